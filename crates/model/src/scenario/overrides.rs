//! Changes to a scenario from the command line (`wsbench run FILE --set
//! load.connections=5000 --duration 30s`): made to the file's text, which
//! is then read and checked like any scenario, so a wrong key or value
//! is refused the same way, and the text as run (recorded with the
//! results, read by the worker processes) holds the change.

use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

/// One change: a key path (`load.connections`, `group.1.weight`: an
/// array of tables takes an index) set to a value, or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Override {
    /// `--set PATH=VALUE`: VALUE is read as TOML (`5000`, `true`,
    /// `["sse"]`), or else as a string (`30s`, `ws://127.0.0.1:9001`).
    Set(String, String),
    /// The key at PATH removed (`--url` removes `target.builtin`).
    Remove(String),
}

impl Override {
    /// `PATH=VALUE` as written after `--set`.
    pub fn parse_set(arg: &str) -> Result<Override, String> {
        let (path, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("{arg:?}: write KEY.PATH=VALUE, e.g. load.connections=5000"))?;
        let path = path.trim();
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(format!(
                "{arg:?}: {path:?} is not a key path (e.g. load.duration)"
            ));
        }
        Ok(Override::Set(path.to_owned(), value.trim().to_owned()))
    }

    fn path(&self) -> &str {
        match self {
            Override::Set(p, _) | Override::Remove(p) => p,
        }
    }
}

/// `text` with `changes` made, in order.
pub fn apply(text: &str, changes: &[Override]) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| format!("the file is not TOML, so it cannot be changed: {e}"))?;
    for change in changes {
        let path: Vec<&str> = change.path().split('.').collect();
        let (last, parents) = path.split_last().expect("split gives one part at least");
        let not_a_table = |upto: &str| format!("{}: {upto} is not a table", change.path());
        let mut table: &mut dyn TableLike = doc.as_table_mut();
        let mut parts = parents.iter().enumerate();
        while let Some((i, part)) = parts.next() {
            if table.get(part).is_none() {
                table.insert(part, Item::Table(Table::new()));
            }
            let item = table.get_mut(part).expect("inserted if missing");
            table = match item {
                Item::ArrayOfTables(array) => {
                    let index = parts.next().and_then(|(_, p)| p.parse::<usize>().ok());
                    let at = path[..=i].join(".");
                    let len = array.len();
                    index
                        .and_then(|k| array.get_mut(k))
                        .map(|t| t as &mut dyn TableLike)
                        .ok_or_else(|| {
                            format!(
                                "{}: {at} is a list of {len} tables: name one by its index from 0 ({at}.0)",
                                change.path()
                            )
                        })?
                }
                other => other
                    .as_table_like_mut()
                    .ok_or_else(|| not_a_table(&path[..=i].join(".")))?,
            };
        }
        match change {
            Override::Set(_, v) => {
                let value = v
                    .parse::<Value>()
                    .unwrap_or_else(|_| Value::from(v.as_str()));
                table.insert(last, Item::Value(value));
            }
            Override::Remove(_) => {
                table.remove(last);
            }
        }
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(arg: &str) -> Override {
        Override::parse_set(arg).unwrap()
    }

    #[test]
    fn values_are_typed_and_keys_land_where_the_path_says() {
        let text = "name = \"x\"\n[load]\nconnections = 10 # ten\n[[group]]\nname = \"a\"\n[[group]]\nname = \"b\"\n";
        let out = apply(
            text,
            &[
                set("load.connections=5000"),
                set("load.duration = 30s"),
                set("load.transports=[\"sse\"]"),
                set("group.1.weight=2.5"),
                set("target.url=ws://127.0.0.1:9001"),
                Override::Remove("name".into()),
            ],
        )
        .unwrap();
        let v: toml::Table = out.parse().unwrap();
        assert_eq!(v["load"]["connections"].as_integer(), Some(5000));
        assert_eq!(v["load"]["duration"].as_str(), Some("30s"));
        assert_eq!(v["load"]["transports"][0].as_str(), Some("sse"));
        assert_eq!(v["group"][1]["weight"].as_float(), Some(2.5));
        assert_eq!(v["group"][0].get("weight"), None);
        assert_eq!(v["target"]["url"].as_str(), Some("ws://127.0.0.1:9001"));
        assert!(v.get("name").is_none());
    }

    #[test]
    fn bad_paths_say_why() {
        let text = "name = \"x\"\n[[group]]\nname = \"a\"\n";
        let e = apply(text, &[set("name.first=1")]).unwrap_err();
        assert!(e.contains("name is not a table"), "{e}");
        let e = apply(text, &[set("group.weight=1")]).unwrap_err();
        assert!(e.contains("index from 0"), "{e}");
        let e = apply(text, &[set("group.3.weight=1")]).unwrap_err();
        assert!(e.contains("list of 1 tables"), "{e}");
        assert!(Override::parse_set("load.duration").is_err());
        assert!(Override::parse_set("load..x=1").is_err());
        assert!(apply("not toml [", &[]).is_err());
    }
}
