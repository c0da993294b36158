//! A rusqlite row as a serde `Deserializer`: a map of its columns by name,
//! each value as its model field deserializes it (`sqlite_reads::models`).
//!
//! The rows of a launch's lookups (template, binaries, cluster, data
//! sources) were built into a `serde_json::Map` of `Value`s, a `String`
//! key each, and then deserialized from it: 8% of edpd's CPU under
//! `edp-bench`'s launches (BENCHMARKS.md, issue 16). Here the model reads
//! the row's values where they lie.
//!
//! Invariant: the same values as the `Value` path gave, so the same as
//! sea-orm's (`sqlite_reads`' test `models_are_what_sea_orm_reads`):
//! SQLite's integers as booleans where the column is one, stored JSON text
//! parsed, stored times as RFC 3339 text, NULL as `null`.

use chrono::SecondsFormat;
use rusqlite::Row;
use rusqlite::types::ValueRef;
use sea_orm::ColumnType;
use serde::de::value::{Error, SeqDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};

/// A statement's columns: each name, and its declared type where the
/// column is the entity's own (a joined table's has none).
pub(crate) type Columns = [(String, Option<ColumnType>)];

/// `row`, read as a map of `columns`.
pub(crate) struct RowDeserializer<'de, 'r> {
    pub(crate) row: &'de Row<'r>,
    pub(crate) columns: &'de Columns,
}

impl<'de> Deserializer<'de> for RowDeserializer<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(Fields { row: self.row, columns: self.columns, at: 0 })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The columns in turn.
struct Fields<'de, 'r> {
    row: &'de Row<'r>,
    columns: &'de Columns,
    at: usize,
}

impl<'de> MapAccess<'de> for Fields<'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.columns.get(self.at) {
            Some((name, _)) => seed.deserialize(name.as_str().into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let at = self.at;
        self.at += 1;
        let (name, declared) = self.columns.get(at).ok_or_else(|| de::Error::custom("no such column"))?;
        let value = self.row.get_ref(at).map_err(de::Error::custom)?;
        seed.deserialize(Column { value, declared: declared.as_ref(), at })
            .map_err(|e| de::Error::custom(format!("column {name}: {e}")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.columns.len() - self.at)
    }
}

/// One column's value.
struct Column<'de> {
    value: ValueRef<'de>,
    declared: Option<&'de ColumnType>,
    at: usize,
}

impl<'de> Deserializer<'de> for Column<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        use ColumnType as T;
        match (self.declared, self.value) {
            (_, ValueRef::Null) => visitor.visit_unit(),
            (Some(T::Boolean), ValueRef::Integer(n)) => visitor.visit_bool(n != 0),
            (Some(T::Json | T::JsonBinary), ValueRef::Text(text) | ValueRef::Blob(text)) => {
                serde_json::Deserializer::from_slice(text).deserialize_any(visitor).map_err(de::Error::custom)
            }
            (Some(T::TimestampWithTimeZone), _) => {
                let time = crate::sqlite_reads::stored_time(self.value, self.at).map_err(de::Error::custom)?;
                visitor.visit_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }
            (_, ValueRef::Integer(n)) => visitor.visit_i64(n),
            (_, ValueRef::Real(x)) => visitor.visit_f64(x),
            (_, ValueRef::Text(text)) => visitor.visit_str(std::str::from_utf8(text).map_err(de::Error::custom)?),
            (_, ValueRef::Blob(bytes)) => visitor.visit_seq(SeqDeserializer::new(bytes.iter().copied())),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            ValueRef::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}
