//! `BENCHMARKS.md` and its charts from a run's results.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

use memo_bench::markdown::{Table, bytes, nanos, ratio, significant};
use memo_bench::summary::Summary;
use memo_bench::svg::{LineChart, Series};

use crate::stampede::WORK;
use crate::workloads::{Kind, Row};
use crate::{Args, Results};

fn span(s: &Summary) -> String {
    format!("{} ({}–{})", nanos(s.median), nanos(s.min), nanos(s.max))
}

fn ratio_span(s: &Summary) -> String {
    format!("{}–{}", ratio(s.min), ratio(s.max))
}

fn threads(n: usize) -> String {
    if n == 1 {
        "1 thread".into()
    } else {
        format!("{n} threads")
    }
}

fn find<'a>(
    r: &'a Results,
    kind: Kind,
    size: usize,
    t: usize,
    store: &str,
    reference: &str,
) -> Option<&'a Row> {
    r.tables
        .iter()
        .filter(|x| x.kind == kind && x.size == size && x.threads == t)
        .flat_map(|x| &x.rows)
        .find(|row| row.store == store && row.reference.starts_with(reference))
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

/// The targets, each with its figure from this run.
fn targets(r: &Results) -> Table {
    let mut t = Table::new(&[
        "target",
        "figure (ratio of medians; per-round range)",
        "verdict",
    ]);
    let mut ratio_target = |name: &str, kind: Kind, store: &str, reference: &str, limit: f64| {
        let row = find(r, kind, 64, 1, store, reference);
        let figure = row.map_or_else(
            || "not measured in this run".to_owned(),
            |row| {
                let q = row.memo.ratio_range(&row.raw);
                format!(
                    "{} ({}); {} vs {}",
                    ratio(row.memo.summary.ratio_to(&row.raw.summary)),
                    ratio_span(&q),
                    nanos(row.memo.summary.median),
                    nanos(row.raw.summary.median)
                )
            },
        );
        let met = row.map(|row| row.memo.summary.ratio_to(&row.raw.summary) <= limit);
        t.row(vec![name.to_owned(), figure, verdict(met).into()]);
    };
    ratio_target(
        "`MemStore` hit within 1.5x of a raw `Mutex<HashMap>` get",
        Kind::Hit,
        "MemStore",
        "Mutex<HashMap>",
        1.5,
    );
    ratio_target(
        "`MokaStore` hit within 1.5x of raw moka",
        Kind::Hit,
        "MokaStore",
        "moka",
        1.5,
    );
    ratio_target(
        "`RedbStore` hit within 1.3x of a raw redb get",
        Kind::Hit,
        "RedbStore",
        "redb",
        1.3,
    );
    ratio_target(
        "`RedisStore` hit within 1.1x of `GET`",
        Kind::Hit,
        "RedisStore",
        "Redis",
        1.1,
    );
    ratio_target(
        "`RedisStore` locked miss within 1.6x of `GET` + `SET PX`",
        Kind::Miss,
        "RedisStore",
        "Redis",
        1.6,
    );
    let redb_miss = find(r, Kind::Miss, 64, 1, "RedbStore", "redb");
    t.row(vec![
        "`RedbStore` misses at least 40,000/s".into(),
        redb_miss.map_or("not measured in this run".into(), |row| {
            format!(
                "{:.0}/s ({})",
                1e9 / row.memo.summary.median,
                nanos(row.memo.summary.median)
            )
        }),
        verdict(redb_miss.map(|row| 1e9 / row.memo.summary.median >= 40_000.0)).into(),
    ]);
    let two = r.decorator.iter().find(|(n, _)| *n == 2);
    let decorator = two.and_then(|(_, rows)| Some((rows.first()?, rows.get(1)?)));
    t.row(vec![
        "`#[memoize]` at or below `#[cached]` with 2 threads".into(),
        decorator.map_or("not measured in this run".into(), |((_, m), (_, c))| {
            format!(
                "{} ({}); {} vs {}",
                ratio(m.summary.ratio_to(&c.summary)),
                ratio_span(&m.ratio_range(c)),
                nanos(m.summary.median),
                nanos(c.summary.median)
            )
        }),
        verdict(decorator.map(|((_, m), (_, c))| m.summary.ratio_to(&c.summary) <= 1.0)).into(),
    ]);
    for s in r.stampedes.iter().filter(|s| s.memo) {
        let wall = Summary::of(
            &s.walls
                .iter()
                .map(|w| w.as_secs_f64() * 1e9)
                .collect::<Vec<_>>(),
        );
        let most = s.computations.iter().copied().max().unwrap_or(0);
        let least = s.computations.iter().copied().min().unwrap_or(0);
        let w = wall.map_or(f64::NAN, |w| w.median / WORK.as_nanos() as f64);
        t.row(vec![
            format!(
                "stampede, {}: one computation, wall within 1.1x of 50 ms",
                s.name
            ),
            format!(
                "{} per round; wall {} ({})",
                if least == most {
                    format!("{most} computation{}", if most == 1 { "" } else { "s" })
                } else {
                    format!("{least}–{most} computations")
                },
                ratio(w),
                wall.map_or(String::new(), |w| span(&w))
            ),
            verdict(Some(most == 1 && least == 1 && w <= 1.1)).into(),
        ]);
    }
    if r.stampedes.is_empty() {
        t.row(vec![
            "stampede: one computation, wall within 1.1x of 50 ms".into(),
            "not measured in this run".into(),
            verdict(None).into(),
        ]);
    }
    for (memo, raw) in &r.memory {
        let q = memo.peak as f64 / raw.peak.max(1) as f64;
        t.row(vec![
            format!(
                "memory per record, `{}` within 1.5x of {}",
                memo.name, raw.name
            ),
            format!(
                "{} ({} vs {} per record)",
                ratio(q),
                bytes(memo.peak as f64 / r.records as f64),
                bytes(raw.peak as f64 / r.records as f64)
            ),
            verdict(Some(q <= 1.5)).into(),
        ]);
    }
    if r.memory.is_empty() {
        t.row(vec![
            "memory per record within 1.5x of the engine's".into(),
            "not measured in this run".into(),
            verdict(None).into(),
        ]);
    }
    t
}

fn workload_tables(r: &Results, out: &mut String) {
    for table in &r.tables {
        let _ = writeln!(
            out,
            "### {}, {}, {}\n",
            table.kind.name(),
            bytes(table.size as f64),
            threads(table.threads)
        );
        let mut t = Table::new(&[
            "store",
            "against",
            "ratio",
            "ratio per round",
            "memo ns/op: median (min–max)",
            "reference ns/op: median (min–max)",
        ]);
        for row in &table.rows {
            t.row(vec![
                format!("`{}`", row.store),
                row.reference.to_owned(),
                ratio(row.memo.summary.ratio_to(&row.raw.summary)),
                ratio_span(&row.memo.ratio_range(&row.raw)),
                span(&row.memo.summary),
                span(&row.raw.summary),
            ]);
        }
        out.push_str(&t.render());
        if table.unexpected > 0 {
            let _ = writeln!(
                out,
                "\n{} calls computed where every call should have hit (evicted records).",
                table.unexpected
            );
        }
        out.push('\n');
    }
}

fn charts(r: &Results) -> Vec<(&'static str, LineChart)> {
    let sizes = [64, 4 << 10, 1 << 20];
    let mut out = Vec::new();
    for (kind, file) in [
        (Kind::Hit, "latency-hit.svg"),
        (Kind::Miss, "latency-miss.svg"),
    ] {
        let mut series = Vec::new();
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for table in r.tables.iter().filter(|t| t.kind == kind && t.threads == 1) {
            for row in &table.rows {
                // Each store beside its first reference, the raw engine.
                if !seen.iter().any(|(s, _)| *s == row.store) {
                    seen.push((row.store, row.reference));
                }
            }
        }
        for (colour, (store, reference)) in seen.into_iter().enumerate() {
            let at = |memo: bool| -> Vec<Option<f64>> {
                sizes
                    .iter()
                    .map(|&size| {
                        find(r, kind, size, 1, store, reference).map(|row| {
                            if memo {
                                row.memo.summary.median
                            } else {
                                row.raw.summary.median
                            }
                        })
                    })
                    .collect()
            };
            series.push(Series {
                name: store.to_owned(),
                values: at(true),
                dashed: false,
                colour,
            });
            series.push(Series {
                name: format!("{reference} (raw)"),
                values: at(false),
                dashed: true,
                colour,
            });
        }
        if !series.is_empty() {
            out.push((
                file,
                LineChart {
                    title: format!("{} latency by value size, 1 thread (median)", kind.name()),
                    x_label: "value size".into(),
                    y_label: "ns per operation (log)".into(),
                    categories: sizes.iter().map(|&s| bytes(s as f64)).collect(),
                    log_y: true,
                    series,
                },
            ));
        }
    }
    let mut percents: Vec<usize> = r.ratios.iter().map(|x| x.percent).collect();
    percents.dedup();
    let mut names: Vec<(&str, bool)> = Vec::new();
    for x in &r.ratios {
        if !names.iter().any(|(n, _)| *n == x.name) {
            names.push((x.name, x.memo));
        }
    }
    if !names.is_empty() {
        out.push((
            "zipf-hit-ratio.svg",
            LineChart {
                title: format!(
                    "Zipf (s = 1.0) hit ratio over {} keys by capacity",
                    r.zipf_keys
                ),
                x_label: "capacity (share of the keys)".into(),
                y_label: "hit ratio".into(),
                categories: percents.iter().map(|p| format!("{p}%")).collect(),
                log_y: false,
                series: names
                    .into_iter()
                    .enumerate()
                    .map(|(colour, (name, memo))| Series {
                        colour,
                        name: name.to_owned(),
                        values: percents
                            .iter()
                            .map(|p| {
                                r.ratios
                                    .iter()
                                    .find(|x| x.name == name && x.percent == *p)
                                    .map(|x| x.hit_ratio)
                            })
                            .collect(),
                        dashed: !memo,
                    })
                    .collect(),
            },
        ));
    }
    out
}

/// Writes the report and its charts; returns the paths written.
pub(crate) fn report(args: &Args, r: &Results) -> io::Result<Vec<PathBuf>> {
    let mut out = String::new();
    let plan = r.plan.expect("a plan");
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "Every memo store beside the engine under it and the crates a user would pick instead, \
         measured in one run of `memo-bench`'s report runner. Written by the runner; do not edit \
         by hand.\n\n",
    );
    if args.quick {
        out.push_str(
            "**A `--quick` run: few rounds and a smaller Zipf key set; figures are rough.**\n\n",
        );
    }
    out.push_str("## Machine and run\n\n");
    for (k, v) in crate::machine::describe() {
        let _ = writeln!(out, "- {k}: {v}");
    }
    let _ = writeln!(out, "- command: `{}`", args.command);
    let _ = writeln!(
        out,
        "- wall time of the run: {:.0} s",
        r.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "- Redis: {}",
        args.redis.as_ref().map_or(
            "**not measured** (no `--redis URL` or `MEMO_REDIS_URL`): the `RedisStore` rows, the \
             cross-process stampede and the Redis targets are missing"
                .to_owned(),
            |_| "measured, on the server the command names".to_owned()
        )
    );
    let _ = writeln!(
        out,
        "- RocksDB: {}\n",
        if cfg!(feature = "rocks") {
            "measured (`--features rocks`)"
        } else {
            "**not measured**: `RocksStore` rows need `--features rocks`"
        }
    );
    let _ = write!(
        out,
        "## How to read a row\n\n\
         Each table runs memo and its references in interleaved rounds (memo's batch, each \
         reference's batch, memo's again, ...), {} rounds of batches of about {} ms, so a burst \
         of load lands on every side alike. **ratio** = memo's median / the reference's median \
         (below 1: memo is faster); **ratio per round** = the range of the ratios of the same \
         round's batches; then each side's median time per operation and its range (min–max) \
         over the rounds. With 2 threads both run at once on the same cache and a figure is the \
         wall time over the operations of both (per operation of their combined throughput).\n\n",
        plan.rounds,
        plan.batch_time.as_millis()
    );
    out.push_str("## Targets\n\n");
    out.push_str(&targets(r).render());
    let _ = write!(
        out,
        "\n## Workloads\n\n\
         - **hit**: a warm key (cycling over up to 1,000 warm keys; 64 for 1 MiB values), \
         `Memoizer::get` whose function is never called, against the reference's get returning \
         an owned value.\n\
         - **miss**: a new key every operation and a trivial function (a copy of the value), \
         against the reference's get (none) then put.\n\
         - **mixed 90/10**: nine hits of the warm keys, then one miss of a new key.\n\
         - **Zipf**: keys drawn by Zipf's law (s = 1.0) over {} keys, all stored first, so these \
         stores (those that hold every key) only hit; the bounded stores are in the hit-ratio \
         table instead.\n\
         - Values of 64 B, 4 KiB and 1 MiB for hit and miss; 64 B elsewhere. Two threads at \
         64 B only. Memo's values are \
         `Vec<u8>`, encoded with postcard in a checksummed record; the references store the \
         bytes as they are.\n\
         - References: `MemStore` against `Mutex<HashMap>` and `cached`'s `UnboundCache` (in a \
         `Mutex`, through its `Cached` trait); `LruStore` against `lru::LruCache` in a `Mutex`, \
         `cached`'s `LruCache` (its `SizedCache` before 4.0) and `quick_cache`; `MokaStore` against `moka::sync::Cache` and \
         `quick_cache` (both bounded by entries, memo's by bytes); `RedbStore` against a raw redb \
         table, a read transaction per get and a write transaction per put with \
         `Durability::None` (`RedbStore`'s default journals each write and makes it durable \
         within a second, so it sits between `None` and `Immediate`, which fsyncs every put); \
         `TieredStore` (`MokaStore` over `RedbStore`) against raw moka over raw redb; \
         `RocksStore` against rocksdb with its defaults; `RedisStore` (default lock) against \
         `GET` and `SET PX` on one connection per thread.\n\n",
        r.zipf_keys
    );
    workload_tables(r, &mut out);
    if !r.ratios.is_empty() {
        let _ = writeln!(
            out,
            "## Zipf hit ratio of the bounded stores\n\n\
             Zipf (s = 1.0) over {} keys, 64 B values, 1 thread; each cache warmed up with \
             {} draws of its own, then measured on the shared draws (a miss computes and \
             inserts). Capacity is a share of the keys: entries for the LRUs, `quick_cache` and \
             moka; bytes for `MokaStore` (that many records' weight).\n",
            r.zipf_keys,
            1 << 20
        );
        let mut t = Table::new(&["capacity", "cache", "hit ratio", "ns/op: median (min–max)"]);
        for x in &r.ratios {
            t.row(vec![
                format!("{}%", x.percent),
                if x.memo {
                    format!("`{}`", x.name)
                } else {
                    x.name.to_owned()
                },
                format!("{:.3}", x.hit_ratio),
                span(&x.ns.summary),
            ]);
        }
        out.push_str(&t.render());
        out.push('\n');
    }
    if !r.decorator.is_empty() {
        out.push_str(
            "## Decorator\n\nA decorated `fn(String) -> Vec<u8>` (64 B) on hits, cycling over \
             1,024 warm keys; the ratio is against `#[cached]`.\n\n",
        );
        let mut t = Table::new(&[
            "threads",
            "decorator",
            "ratio to #[cached]",
            "ns/op: median (min–max)",
        ]);
        for (n, rows) in &r.decorator {
            let reference = &rows[1].1;
            for (name, m) in rows {
                t.row(vec![
                    n.to_string(),
                    (*name).to_owned(),
                    ratio(m.summary.ratio_to(&reference.summary)),
                    span(&m.summary),
                ]);
            }
        }
        out.push_str(&t.render());
        out.push('\n');
    }
    if !r.stampedes.is_empty() {
        out.push_str(
            "## Stampede\n\n64 threads released together on one cold key whose function sleeps \
             50 ms (across processes: 4 processes of 16 threads over one Redis, computations \
             counted with `INCR`). Wall time from the release to the last return; a fresh key \
             each round.\n\n",
        );
        let mut t = Table::new(&[
            "cache",
            "computations per round",
            "wall: median (min–max)",
            "wall / 50 ms",
        ]);
        for s in &r.stampedes {
            let wall = Summary::of(
                &s.walls
                    .iter()
                    .map(|w| w.as_secs_f64() * 1e9)
                    .collect::<Vec<_>>(),
            );
            t.row(vec![
                if s.memo {
                    format!("`{}`", s.name)
                } else {
                    s.name.clone()
                },
                s.computations
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                wall.map_or(String::new(), |w| span(&w)),
                wall.map_or(String::new(), |w| ratio(w.median / WORK.as_nanos() as f64)),
            ]);
        }
        out.push_str(&t.render());
        out.push('\n');
    }
    if !r.memory.is_empty() {
        let _ = writeln!(
            out,
            "## Memory\n\n{} records of 64 B (keys `record-00000000`...), each side filled in a \
             child process of its own (memo through `Memoizer::get`): the growth of its peak \
             resident set (`VmHWM` minus `VmRSS` before the fill, from `/proc/self/status`); for \
             Redis the server's `used_memory` growth (memo's records loaded by pipeline). On \
             disk: the files after the store is closed.\n",
            r.records
        );
        let mut t = Table::new(&[
            "store",
            "engine",
            "ratio",
            "store: peak growth (per record)",
            "engine: peak growth (per record)",
            "on disk: store / engine",
        ]);
        for (memo, raw) in &r.memory {
            let per = |b: u64| {
                format!(
                    "{} ({})",
                    bytes(b as f64),
                    bytes((b as f64 / r.records as f64).round())
                )
            };
            t.row(vec![
                format!("`{}`", memo.name),
                raw.name.to_owned(),
                ratio(memo.peak as f64 / raw.peak.max(1) as f64),
                per(memo.peak),
                per(raw.peak),
                match (memo.disk, raw.disk) {
                    (Some(a), Some(b)) => format!("{} / {}", bytes(a as f64), bytes(b as f64)),
                    _ => "–".into(),
                },
            ]);
        }
        out.push_str(&t.render());
        out.push('\n');
    }
    let charts = charts(r);
    let dir = args
        .out
        .parent()
        .map_or_else(|| PathBuf::from("bench"), |p| p.join("bench"));
    let mut written = Vec::new();
    if !charts.is_empty() {
        out.push_str("## Charts\n\n");
        std::fs::create_dir_all(&dir)?;
        for (file, chart) in &charts {
            let path = dir.join(file);
            std::fs::write(&path, chart.render())?;
            let path = path.canonicalize().unwrap_or(path);
            let _ = writeln!(out, "![{}](bench/{file})\n", chart.title);
            written.push(path);
        }
    }
    let _ = significant;
    std::fs::write(&args.out, out)?;
    written.insert(
        0,
        args.out.canonicalize().unwrap_or_else(|_| args.out.clone()),
    );
    Ok(written)
}
