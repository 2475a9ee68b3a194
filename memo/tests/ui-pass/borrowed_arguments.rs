//! Helpers take the common borrowed forms of by-value arguments, under strict lints.
#![deny(missing_docs, unreachable_pub, unused)]

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, Options, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

#[memoize(MEMO)]
fn owned(
    text: String,
    items: Vec<u16>,
    path: PathBuf,
    set: HashSet<u8>,
    words: Vec<&'static str>,
    maybe: Option<String>,
) -> usize {
    text.len()
        + items.len()
        + path.as_os_str().len()
        + set.len()
        + words.len()
        + maybe.map_or(0, |m| m.len())
}

#[memoize(MEMO)]
fn borrowed<'a>(text: &'a str, items: &[u16], n: &u8) -> usize {
    text.len() + items.len() + usize::from(*n)
}

// Elided lifetimes cannot be named in the helpers' `impl Trait` parameters: these arguments keep
// their types there.
#[memoize(MEMO)]
fn elided(words: Vec<&str>, label: Cow<str>, other: Cow<'_, str>) -> usize {
    words.len() + label.len() + other.len()
}

#[derive(serde::Serialize, Clone)]
struct Shelf(u8);

impl Shelf {
    #[memoize(MEMO)]
    fn label(&self, title: String, tags: Vec<String>) -> String {
        format!("{}:{title}:{}", self.0, tags.len())
    }
}

fn main() {
    let set: HashSet<u8> = [1, 2].into();
    let maybe = Some("m".to_owned());
    let text = String::from("text");
    assert_eq!(
        owned(
            "text".to_owned(),
            vec![1],
            PathBuf::from("/p"),
            set.clone(),
            vec!["w"],
            maybe.clone()
        ),
        11
    );
    assert!(owned::exists("text", &[1], Path::new("/p"), &set, &["w"], &maybe).unwrap());
    assert!(
        owned::exists(
            &text,
            &vec![1][..],
            &PathBuf::from("/p"),
            set.clone(),
            vec!["w"],
            maybe.clone()
        )
        .unwrap()
    );
    assert_eq!(
        owned::ttl("text", &[1], Path::new("/p"), &set, &["w"], &maybe).unwrap(),
        None
    );
    let _ = owned::etag::<u8>("text", &[1], Path::new("/p"), &set, &["w"], &maybe).unwrap();
    let _ = owned::expire(
        "text",
        &[1],
        Path::new("/p"),
        &set,
        &["w"],
        &maybe,
        std::time::Duration::from_secs(1),
    );
    let _ = owned::expire_at(
        "text",
        &[1],
        Path::new("/p"),
        &set,
        &["w"],
        &maybe,
        std::time::SystemTime::now(),
    );
    assert_eq!(
        owned::call_with(
            &Options::new(),
            "text",
            &[1],
            Path::new("/p"),
            &set,
            &["w"],
            &maybe
        ),
        11
    );
    assert_eq!(
        owned::uncached("text", &[1], Path::new("/p"), &set, &["w"], &maybe),
        11
    );
    assert!(owned::delete("text", &[1], Path::new("/p"), &set, &["w"], &maybe).unwrap());

    // By-reference arguments keep their types and deref coercion.
    assert_eq!(borrowed(&text, &vec![1, 2], &3), 9);
    assert!(borrowed::exists(&text, &vec![1, 2], &3).unwrap());
    assert_eq!(borrowed::uncached(&text, &[1, 2], &3), 9);

    assert_eq!(elided(vec!["a"], Cow::Borrowed("bc"), "d".into()), 4);
    assert!(elided::exists(vec!["a"], "bc".into(), "d".into()).unwrap());
    assert_eq!(elided::uncached(vec!["a"], "bc".into(), "d".into()), 4);

    let shelf = Shelf(1);
    assert_eq!(shelf.label("t".to_owned(), vec![]), "1:t:0");
    assert!(shelf.label_exists("t", &[]).unwrap());
    assert_eq!(shelf.label_uncached("t", &["x".to_owned()]), "1:t:1");
}
