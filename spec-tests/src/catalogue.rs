//! The catalogue: every documented behaviour the suite knows, one row per id, in the project's
//! own words (catalogue.tsv, compiled in so the binary runs anywhere).

const CATALOGUE: &str = include_str!("../catalogue.tsv");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub area: String,
    pub section: String,
    pub title: String,
    pub promise: String,
}

/// Parses catalogue.tsv: a header line, then `id area section title promise` per row.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, "id\tarea\tsection\ttitle\tpromise")) => {}
        other => {
            return Err(format!("catalogue header is {:?}, expected id/area/section/title/promise", other.map(|o| o.1)))
        }
    }
    lines
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields[..] {
                [id, area, section, title, promise] => Ok(Entry {
                    id: id.into(),
                    area: area.into(),
                    section: section.into(),
                    title: title.into(),
                    promise: promise.into(),
                }),
                _ => Err(format!("catalogue line {}: expected 5 tab-separated fields, found {}", n + 1, fields.len())),
            }
        })
        .collect()
}

pub fn load() -> Vec<Entry> {
    parse(CATALOGUE).expect("catalogue.tsv is checked by the unit tests")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalogue_parses_with_unique_ids() {
        let entries = parse(CATALOGUE).unwrap();
        let ids: HashSet<_> = entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), entries.len(), "duplicate ids in catalogue.tsv");
        assert!(entries.iter().all(|e| !e.title.is_empty() && !e.promise.is_empty()));
    }

    #[test]
    fn every_case_names_catalogue_ids() {
        let ids: HashSet<_> = load().into_iter().map(|e| e.id).collect();
        for case in crate::cases::all() {
            for id in case.ids {
                assert!(ids.contains(*id), "case {} names {id}, which is not in catalogue.tsv", case.name);
            }
        }
    }

    /// The catalogue keeps every id of the shared checklist, when that checklist is at hand
    /// (it lives outside this repository; CHECKLIST names it elsewhere).
    #[test]
    fn catalogue_has_every_checklist_id() {
        let path = std::env::var("CHECKLIST")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/checklist.tsv").into());
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("note: {path} not found; checklist comparison not run");
            return;
        };
        let ours: HashSet<_> = load().into_iter().map(|e| e.id).collect();
        let missing: Vec<_> =
            text.lines().skip(1).filter_map(|l| l.split('\t').next()).filter(|id| !ours.contains(*id)).collect();
        assert!(missing.is_empty(), "catalogue.tsv lacks checklist ids: {missing:?}");
    }

    #[test]
    fn rejects_malformed_rows() {
        assert!(parse("id\tarea\tsection\ttitle\tpromise\na\tb\tc\n").unwrap_err().contains("line 2"));
        assert!(parse("bad header\n").is_err());
    }
}
