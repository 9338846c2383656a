//! Reading column types from catalog entries written before time and timestamp types carried
//! a precision: those stored `"Time"`, `"Timestamp"` and `"Timestamptz"` (unit variants) where
//! entries now store `{"Timestamp": null}` or `{"Timestamp": 3}`. Both forms read back; entries
//! are always written in the current form.

use serde::{Deserialize, Deserializer};

use crate::types::DataType;

/// A type as stored: the current form, or an earlier one.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Now(DataType),
    Then(Then),
}

/// The earlier forms that differ from the current ones (arrays hold a stored element type).
#[derive(Deserialize)]
enum Then {
    Time,
    Timestamp,
    Timestamptz,
    Array(Box<Stored>),
}

impl From<Stored> for DataType {
    fn from(s: Stored) -> DataType {
        match s {
            Stored::Now(t) => t,
            Stored::Then(Then::Time) => DataType::Time(None),
            Stored::Then(Then::Timestamp) => DataType::Timestamp(None),
            Stored::Then(Then::Timestamptz) => DataType::Timestamptz(None),
            Stored::Then(Then::Array(e)) => DataType::Array(Box::new(DataType::from(*e))),
        }
    }
}

/// `#[serde(deserialize_with)]` for one type.
pub(super) fn one<'de, D: Deserializer<'de>>(d: D) -> Result<DataType, D::Error> {
    Stored::deserialize(d).map(DataType::from)
}

/// `#[serde(deserialize_with)]` for a list of types.
pub(super) fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DataType>, D::Error> {
    Vec::<Stored>::deserialize(d).map(|v| v.into_iter().map(DataType::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Col {
        #[serde(deserialize_with = "one")]
        ty: DataType,
        #[serde(deserialize_with = "list", default)]
        tys: Vec<DataType>,
    }

    fn read(json: &str) -> (DataType, Vec<DataType>) {
        let c: Col = serde_json::from_str(json).unwrap();
        (c.ty, c.tys)
    }

    #[test]
    fn earlier_and_current_forms_read_back() {
        assert_eq!(
            read(r#"{"ty": "Timestamp", "tys": ["Time", "Timestamptz", {"Array": "Timestamp"}]}"#),
            (
                DataType::Timestamp(None),
                vec![
                    DataType::Time(None),
                    DataType::Timestamptz(None),
                    DataType::Array(Box::new(DataType::Timestamp(None))),
                ]
            )
        );
        for ty in [
            DataType::Timestamp(Some(3)),
            DataType::Time(None),
            DataType::Array(Box::new(DataType::Timestamptz(Some(0)))),
            DataType::Varchar(Some(20)),
            DataType::Int4,
        ] {
            let json = format!(r#"{{"ty": {}}}"#, serde_json::to_string(&ty).unwrap());
            assert_eq!(read(&json).0, ty, "{json}");
        }
        assert!(serde_json::from_str::<Col>(r#"{"ty": "Nonsense"}"#).is_err());
    }
}
