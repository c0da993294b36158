//! Sahara's list paging (`limit`, `marker`, `sort_by=[-]field`) done in SQL
//! with keyset conditions: the marker is the id of the last row seen, and
//! ties on the sort column are broken by id.

use sea_orm::sea_query::ValueType;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, ModelTrait, Order, QueryFilter, QueryOrder, QuerySelect,
    Select, Value,
};

use crate::error::{Error, Result};
use crate::model::Page;

/// What a list request asks for, as given.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub limit: Option<u64>,
    pub marker: Option<String>,
    pub sort_by: Option<String>,
}

pub const MAX_LIMIT: u64 = 1_000;

#[derive(Clone, Copy)]
pub(crate) struct Sort<C> {
    pub col: C,
    pub desc: bool,
}

/// Resolves `sort_by` against the fields a resource allows.
pub(crate) fn sort<C: Copy>(sort_by: Option<&str>, allowed: &[(&str, C)], default: C) -> Result<Sort<C>> {
    let Some(spec) = sort_by.filter(|s| !s.is_empty()) else {
        return Ok(Sort { col: default, desc: false });
    };
    let (desc, field) = match spec.strip_prefix('-') {
        Some(field) => (true, field),
        None => (false, spec),
    };
    let col = allowed.iter().find(|(name, _)| *name == field).map(|(_, c)| *c).ok_or_else(|| {
        let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
        Error::Validation(format!("cannot sort by '{field}': sort_by takes one of {}", names.join(", ")))
    })?;
    Ok(Sort { col, desc })
}

/// Where a page's rows are read: the ORM ([`Orm`]), or, for job
/// executions, `crate::reads::Executions`.
pub(crate) trait Rows<E: EntityTrait> {
    fn all(&self, select: Select<E>) -> impl Future<Output = Result<Vec<E::Model>>> + Send;
}

/// Rows through sea-orm, on any database.
pub(crate) struct Orm<'a, C>(pub &'a C);

impl<E: EntityTrait, C: ConnectionTrait + Sync> Rows<E> for Orm<'_, C> {
    async fn all(&self, select: Select<E>) -> Result<Vec<E::Model>> {
        Ok(select.all(self.0).await?)
    }
}

/// One page of `select` (already filtered for visibility and the user's
/// filters), ordered by `sort` then id.
pub(crate) async fn page<E, C>(
    db: &C,
    select: Select<E>,
    id_col: E::Column,
    sort: Sort<E::Column>,
    query: &ListQuery,
) -> Result<Page<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait + Sync,
{
    page_from(&Orm(db), select, id_col, sort, query).await
}

/// [`page`], its rows read from `rows`.
pub(crate) async fn page_from<E, R>(
    rows: &R,
    select: Select<E>,
    id_col: E::Column,
    sort: Sort<E::Column>,
    query: &ListQuery,
) -> Result<Page<E::Model>>
where
    E: EntityTrait,
    R: Rows<E>,
{
    if let Some(limit) = query.limit
        && !(1..=MAX_LIMIT).contains(&limit)
    {
        return Err(Error::Validation(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let (order, reverse) = if sort.desc { (Order::Desc, Order::Asc) } else { (Order::Asc, Order::Desc) };

    let marker = match &query.marker {
        Some(id) => {
            // By key: no LIMIT (see `crate::db::by_key`).
            let row = rows
                .all(select.clone().filter(id_col.eq(id.clone())))
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| Error::Validation(format!("marker {id} not found")))?;
            Some((row.get(sort.col), Value::from(id.clone())))
        }
        None => None,
    };

    let mut forward = select.clone();
    if let Some((value, id)) = &marker {
        forward = forward.filter(beyond(sort, id_col, value, id, !sort.desc, false));
    }
    forward = forward.order_by(sort.col, order.clone()).order_by(id_col, order);
    if let Some(limit) = query.limit {
        forward = forward.limit(limit + 1);
    }
    let mut items = rows.all(forward).await?;

    let next = match query.limit {
        Some(limit) if items.len() as u64 > limit => {
            items.truncate(limit as usize);
            items.last().map(|row| id_of(row, id_col))
        }
        _ => None,
    };

    // The previous page is the `limit` rows ending at the marker; the
    // marker that fetches it is the row just before them.
    let prev = match (&marker, query.limit) {
        (Some((value, id)), Some(limit)) => rows
            .all(
                select
                    .filter(beyond(sort, id_col, value, id, sort.desc, true))
                    .order_by(sort.col, reverse.clone())
                    .order_by(id_col, reverse)
                    .offset(limit)
                    .limit(1),
            )
            .await?
            .first()
            .map(|row| id_of(row, id_col)),
        _ => None,
    };

    Ok(Page { items, prev, next, paged: query.limit.is_some() || query.marker.is_some() })
}

/// Rows after (`ascending`) or before the marker in sort order; with
/// `inclusive`, the marker row itself too.
///
/// The leading `sort >= value` (or `<=`) adds nothing to the meaning: it is
/// the range an index on `(sort, id)` can seek to. Without it, SQLite and
/// Postgres read the `OR` from the start of the index and filter, so a page
/// deep in a long list cost time in proportion to its depth.
fn beyond<Col: ColumnTrait>(
    sort: Sort<Col>,
    id_col: Col,
    value: &Value,
    id: &Value,
    ascending: bool,
    inclusive: bool,
) -> Condition {
    let (from, past_value, past_id) = if ascending {
        (
            sort.col.gte(value.clone()),
            sort.col.gt(value.clone()),
            if inclusive { id_col.gte(id.clone()) } else { id_col.gt(id.clone()) },
        )
    } else {
        (
            sort.col.lte(value.clone()),
            sort.col.lt(value.clone()),
            if inclusive { id_col.lte(id.clone()) } else { id_col.lt(id.clone()) },
        )
    };
    Condition::all()
        .add(from)
        .add(Condition::any().add(past_value).add(Condition::all().add(sort.col.eq(value.clone())).add(past_id)))
}

fn id_of<M: ModelTrait>(row: &M, id_col: <M::Entity as EntityTrait>::Column) -> String {
    <String as ValueType>::try_from(row.get(id_col)).unwrap_or_default()
}
