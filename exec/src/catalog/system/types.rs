//! The built-in types as pg_type shows them (the rows of a PostgreSQL 15.18 server for every
//! type Orbit has, and their array types), and `format_type`.

use crate::types::DataType;

/// One pg_type row's fixed facts.
pub struct TypeRow {
    pub oid: u32,
    pub name: &'static str,
    pub len: i16,
    pub byval: bool,
    pub kind: char,
    pub category: char,
    pub preferred: bool,
    pub subscript: &'static str,
    pub elem: u32,
    pub array: u32,
    /// typinput, typoutput, typreceive, typsend, typmodin, typmodout, typanalyze.
    pub procs: [&'static str; 7],
    pub align: char,
    pub storage: char,
    pub collation: u32,
}

#[allow(clippy::too_many_arguments)]
const fn t(
    oid: u32,
    name: &'static str,
    len: i16,
    byval: bool,
    kind: char,
    category: char,
    preferred: bool,
    subscript: &'static str,
    elem: u32,
    array: u32,
    procs: [&'static str; 7],
    align: char,
    storage: char,
    collation: u32,
) -> TypeRow {
    TypeRow {
        oid,
        name,
        len,
        byval,
        kind,
        category,
        preferred,
        subscript,
        elem,
        array,
        procs,
        align,
        storage,
        collation,
    }
}

/// pg_type's rows, by oid.
#[rustfmt::skip]
pub const TYPES: &[TypeRow] = &[
    t(16, "bool", 1, true, 'b', 'B', true, "-", 0, 1000, ["boolin", "boolout", "boolrecv", "boolsend", "-", "-", "-"], 'c', 'p', 0),
    t(17, "bytea", -1, false, 'b', 'U', false, "-", 0, 1001, ["byteain", "byteaout", "bytearecv", "byteasend", "-", "-", "-"], 'i', 'x', 0),
    t(18, "char", 1, true, 'b', 'Z', false, "-", 0, 1002, ["charin", "charout", "charrecv", "charsend", "-", "-", "-"], 'c', 'p', 0),
    t(19, "name", 64, false, 'b', 'S', false, "raw_array_subscript_handler", 18, 1003, ["namein", "nameout", "namerecv", "namesend", "-", "-", "-"], 'c', 'p', 950),
    t(20, "int8", 8, true, 'b', 'N', false, "-", 0, 1016, ["int8in", "int8out", "int8recv", "int8send", "-", "-", "-"], 'd', 'p', 0),
    t(21, "int2", 2, true, 'b', 'N', false, "-", 0, 1005, ["int2in", "int2out", "int2recv", "int2send", "-", "-", "-"], 's', 'p', 0),
    t(22, "int2vector", -1, false, 'b', 'A', false, "array_subscript_handler", 21, 1006, ["int2vectorin", "int2vectorout", "int2vectorrecv", "int2vectorsend", "-", "-", "-"], 'i', 'p', 0),
    t(23, "int4", 4, true, 'b', 'N', false, "-", 0, 1007, ["int4in", "int4out", "int4recv", "int4send", "-", "-", "-"], 'i', 'p', 0),
    t(24, "regproc", 4, true, 'b', 'N', false, "-", 0, 1008, ["regprocin", "regprocout", "regprocrecv", "regprocsend", "-", "-", "-"], 'i', 'p', 0),
    t(25, "text", -1, false, 'b', 'S', true, "-", 0, 1009, ["textin", "textout", "textrecv", "textsend", "-", "-", "-"], 'i', 'x', 100),
    t(26, "oid", 4, true, 'b', 'N', true, "-", 0, 1028, ["oidin", "oidout", "oidrecv", "oidsend", "-", "-", "-"], 'i', 'p', 0),
    t(30, "oidvector", -1, false, 'b', 'A', false, "array_subscript_handler", 26, 1013, ["oidvectorin", "oidvectorout", "oidvectorrecv", "oidvectorsend", "-", "-", "-"], 'i', 'p', 0),
    t(114, "json", -1, false, 'b', 'U', false, "-", 0, 199, ["json_in", "json_out", "json_recv", "json_send", "-", "-", "-"], 'i', 'x', 0),
    t(199, "_json", -1, false, 'b', 'A', false, "array_subscript_handler", 114, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(700, "float4", 4, true, 'b', 'N', false, "-", 0, 1021, ["float4in", "float4out", "float4recv", "float4send", "-", "-", "-"], 'i', 'p', 0),
    t(701, "float8", 8, true, 'b', 'N', true, "-", 0, 1022, ["float8in", "float8out", "float8recv", "float8send", "-", "-", "-"], 'd', 'p', 0),
    t(705, "unknown", -2, false, 'p', 'X', false, "-", 0, 0, ["unknownin", "unknownout", "unknownrecv", "unknownsend", "-", "-", "-"], 'c', 'p', 0),
    t(1000, "_bool", -1, false, 'b', 'A', false, "array_subscript_handler", 16, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1001, "_bytea", -1, false, 'b', 'A', false, "array_subscript_handler", 17, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1002, "_char", -1, false, 'b', 'A', false, "array_subscript_handler", 18, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1003, "_name", -1, false, 'b', 'A', false, "array_subscript_handler", 19, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 950),
    t(1005, "_int2", -1, false, 'b', 'A', false, "array_subscript_handler", 21, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1006, "_int2vector", -1, false, 'b', 'A', false, "array_subscript_handler", 22, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1007, "_int4", -1, false, 'b', 'A', false, "array_subscript_handler", 23, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1008, "_regproc", -1, false, 'b', 'A', false, "array_subscript_handler", 24, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1009, "_text", -1, false, 'b', 'A', false, "array_subscript_handler", 25, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 100),
    t(1013, "_oidvector", -1, false, 'b', 'A', false, "array_subscript_handler", 30, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1014, "_bpchar", -1, false, 'b', 'A', false, "array_subscript_handler", 1042, 0, ["array_in", "array_out", "array_recv", "array_send", "bpchartypmodin", "bpchartypmodout", "array_typanalyze"], 'i', 'x', 100),
    t(1015, "_varchar", -1, false, 'b', 'A', false, "array_subscript_handler", 1043, 0, ["array_in", "array_out", "array_recv", "array_send", "varchartypmodin", "varchartypmodout", "array_typanalyze"], 'i', 'x', 100),
    t(1016, "_int8", -1, false, 'b', 'A', false, "array_subscript_handler", 20, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'd', 'x', 0),
    t(1021, "_float4", -1, false, 'b', 'A', false, "array_subscript_handler", 700, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1022, "_float8", -1, false, 'b', 'A', false, "array_subscript_handler", 701, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'd', 'x', 0),
    t(1028, "_oid", -1, false, 'b', 'A', false, "array_subscript_handler", 26, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1042, "bpchar", -1, false, 'b', 'S', false, "-", 0, 1014, ["bpcharin", "bpcharout", "bpcharrecv", "bpcharsend", "bpchartypmodin", "bpchartypmodout", "-"], 'i', 'x', 100),
    t(1043, "varchar", -1, false, 'b', 'S', false, "-", 0, 1015, ["varcharin", "varcharout", "varcharrecv", "varcharsend", "varchartypmodin", "varchartypmodout", "-"], 'i', 'x', 100),
    t(1082, "date", 4, true, 'b', 'D', false, "-", 0, 1182, ["date_in", "date_out", "date_recv", "date_send", "-", "-", "-"], 'i', 'p', 0),
    t(1083, "time", 8, true, 'b', 'D', false, "-", 0, 1183, ["time_in", "time_out", "time_recv", "time_send", "timetypmodin", "timetypmodout", "-"], 'd', 'p', 0),
    t(1114, "timestamp", 8, true, 'b', 'D', false, "-", 0, 1115, ["timestamp_in", "timestamp_out", "timestamp_recv", "timestamp_send", "timestamptypmodin", "timestamptypmodout", "-"], 'd', 'p', 0),
    t(1115, "_timestamp", -1, false, 'b', 'A', false, "array_subscript_handler", 1114, 0, ["array_in", "array_out", "array_recv", "array_send", "timestamptypmodin", "timestamptypmodout", "array_typanalyze"], 'd', 'x', 0),
    t(1182, "_date", -1, false, 'b', 'A', false, "array_subscript_handler", 1082, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(1183, "_time", -1, false, 'b', 'A', false, "array_subscript_handler", 1083, 0, ["array_in", "array_out", "array_recv", "array_send", "timetypmodin", "timetypmodout", "array_typanalyze"], 'd', 'x', 0),
    t(1184, "timestamptz", 8, true, 'b', 'D', true, "-", 0, 1185, ["timestamptz_in", "timestamptz_out", "timestamptz_recv", "timestamptz_send", "timestamptztypmodin", "timestamptztypmodout", "-"], 'd', 'p', 0),
    t(1185, "_timestamptz", -1, false, 'b', 'A', false, "array_subscript_handler", 1184, 0, ["array_in", "array_out", "array_recv", "array_send", "timestamptztypmodin", "timestamptztypmodout", "array_typanalyze"], 'd', 'x', 0),
    t(1186, "interval", 16, false, 'b', 'T', true, "-", 0, 1187, ["interval_in", "interval_out", "interval_recv", "interval_send", "intervaltypmodin", "intervaltypmodout", "-"], 'd', 'p', 0),
    t(1187, "_interval", -1, false, 'b', 'A', false, "array_subscript_handler", 1186, 0, ["array_in", "array_out", "array_recv", "array_send", "intervaltypmodin", "intervaltypmodout", "array_typanalyze"], 'd', 'x', 0),
    t(1231, "_numeric", -1, false, 'b', 'A', false, "array_subscript_handler", 1700, 0, ["array_in", "array_out", "array_recv", "array_send", "numerictypmodin", "numerictypmodout", "array_typanalyze"], 'i', 'x', 0),
    t(1560, "bit", -1, false, 'b', 'V', false, "-", 0, 1561, ["bit_in", "bit_out", "bit_recv", "bit_send", "bittypmodin", "bittypmodout", "-"], 'i', 'x', 0),
    t(1561, "_bit", -1, false, 'b', 'A', false, "array_subscript_handler", 1560, 0, ["array_in", "array_out", "array_recv", "array_send", "bittypmodin", "bittypmodout", "array_typanalyze"], 'i', 'x', 0),
    t(1562, "varbit", -1, false, 'b', 'V', true, "-", 0, 1563, ["varbit_in", "varbit_out", "varbit_recv", "varbit_send", "varbittypmodin", "varbittypmodout", "-"], 'i', 'x', 0),
    t(1563, "_varbit", -1, false, 'b', 'A', false, "array_subscript_handler", 1562, 0, ["array_in", "array_out", "array_recv", "array_send", "varbittypmodin", "varbittypmodout", "array_typanalyze"], 'i', 'x', 0),
    t(1700, "numeric", -1, false, 'b', 'N', false, "-", 0, 1231, ["numeric_in", "numeric_out", "numeric_recv", "numeric_send", "numerictypmodin", "numerictypmodout", "-"], 'i', 'm', 0),
    t(2205, "regclass", 4, true, 'b', 'N', false, "-", 0, 2210, ["regclassin", "regclassout", "regclassrecv", "regclasssend", "-", "-", "-"], 'i', 'p', 0),
    t(2206, "regtype", 4, true, 'b', 'N', false, "-", 0, 2211, ["regtypein", "regtypeout", "regtyperecv", "regtypesend", "-", "-", "-"], 'i', 'p', 0),
    t(2210, "_regclass", -1, false, 'b', 'A', false, "array_subscript_handler", 2205, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(2211, "_regtype", -1, false, 'b', 'A', false, "array_subscript_handler", 2206, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(2950, "uuid", 16, false, 'b', 'U', false, "-", 0, 2951, ["uuid_in", "uuid_out", "uuid_recv", "uuid_send", "-", "-", "-"], 'c', 'p', 0),
    t(2951, "_uuid", -1, false, 'b', 'A', false, "array_subscript_handler", 2950, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(3802, "jsonb", -1, false, 'b', 'U', false, "jsonb_subscript_handler", 0, 3807, ["jsonb_in", "jsonb_out", "jsonb_recv", "jsonb_send", "-", "-", "-"], 'i', 'x', 0),
    t(3807, "_jsonb", -1, false, 'b', 'A', false, "array_subscript_handler", 3802, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(4089, "regnamespace", 4, true, 'b', 'N', false, "-", 0, 4090, ["regnamespacein", "regnamespaceout", "regnamespacerecv", "regnamespacesend", "-", "-", "-"], 'i', 'p', 0),
    t(4090, "_regnamespace", -1, false, 'b', 'A', false, "array_subscript_handler", 4089, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    t(4096, "regrole", 4, true, 'b', 'N', false, "-", 0, 4097, ["regrolein", "regroleout", "regrolerecv", "regrolesend", "-", "-", "-"], 'i', 'p', 0),
    t(4097, "_regrole", -1, false, 'b', 'A', false, "array_subscript_handler", 4096, 0, ["array_in", "array_out", "array_recv", "array_send", "-", "-", "array_typanalyze"], 'i', 'x', 0),
    // pgvector's types (the extension's rows; storage external as pgvector declares them).
    t(8100, "vector", -1, false, 'b', 'U', false, "-", 0, 8101, ["vector_in", "vector_out", "vector_recv", "vector_send", "vector_typmod_in", "-", "-"], 'i', 'e', 0),
    t(8101, "_vector", -1, false, 'b', 'A', false, "array_subscript_handler", 8100, 0, ["array_in", "array_out", "array_recv", "array_send", "vector_typmod_in", "-", "array_typanalyze"], 'i', 'x', 0),
    t(8102, "halfvec", -1, false, 'b', 'U', false, "-", 0, 8103, ["halfvec_in", "halfvec_out", "halfvec_recv", "halfvec_send", "halfvec_typmod_in", "-", "-"], 'i', 'e', 0),
    t(8103, "_halfvec", -1, false, 'b', 'A', false, "array_subscript_handler", 8102, 0, ["array_in", "array_out", "array_recv", "array_send", "halfvec_typmod_in", "-", "array_typanalyze"], 'i', 'x', 0),
    t(8104, "sparsevec", -1, false, 'b', 'U', false, "-", 0, 8105, ["sparsevec_in", "sparsevec_out", "sparsevec_recv", "sparsevec_send", "sparsevec_typmod_in", "-", "-"], 'i', 'e', 0),
    t(8105, "_sparsevec", -1, false, 'b', 'A', false, "array_subscript_handler", 8104, 0, ["array_in", "array_out", "array_recv", "array_send", "sparsevec_typmod_in", "-", "array_typanalyze"], 'i', 'x', 0),
];

/// The pg_type row of `oid`.
pub fn type_row(oid: u32) -> Option<&'static TypeRow> {
    TYPES.iter().find(|t| t.oid == oid)
}

/// `format_type(oid, typmod)`: the SQL name of a type ("integer", "character varying(20)",
/// "numeric(10,2)", "integer[]"). `typmod` None is SQL NULL (bpchar then reads "character").
/// Unknown oids give "???" and oid 0 "-", as PostgreSQL's does.
pub fn format_type(oid: u32, typmod: Option<i32>) -> String {
    if oid == 0 {
        return "-".into();
    }
    let Some(ty) = DataType::from_oid(oid) else {
        return "???".into();
    };
    let (base, array) = match ty {
        DataType::Array(e) => (*e, "[]"),
        t => (t, ""),
    };
    let name = match typmod {
        // bpchar with a NULL typmod reads "character".
        None if base == DataType::Char(None) => "character".into(),
        _ => base.with_typmod(typmod.unwrap_or(-1)).display(),
    };
    format!("{name}{array}")
}
