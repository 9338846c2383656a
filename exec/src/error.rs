//! Errors of the SQL layer. Each carries the PostgreSQL SQLSTATE a client sees, so the wire
//! layer never guesses: `Error::sqlstate` is the code, `Display` the message.

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// An SQL error, with PostgreSQL's SQLSTATE.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A user-facing error with its SQLSTATE (syntax, undefined objects, bad input, constraint
    /// violations, ...). `detail` and `hint` are optional extra fields of the error report.
    #[error("{message}")]
    Sql {
        /// Five-character SQLSTATE, e.g. `42P01`.
        code: &'static str,
        /// The primary message, PostgreSQL's wording where it has one.
        message: String,
        /// The DETAIL field.
        detail: Option<String>,
        /// The CONTEXT field (where it happened, e.g. `COPY t, line 3, column a: "x"`).
        context: Option<String>,
    },
    /// The transaction layer failed (serialization failure, storage error).
    #[error(transparent)]
    Txn(#[from] orbit_txn::Error),
}

impl Error {
    /// An error with `code` and `message`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Error {
        Error::Sql {
            code,
            message: message.into(),
            detail: None,
            context: None,
        }
    }

    /// Adds a DETAIL line.
    pub fn with_detail(self, text: impl Into<String>) -> Error {
        match self {
            Error::Sql {
                code,
                message,
                context,
                ..
            } => Error::Sql {
                code,
                message,
                detail: Some(text.into()),
                context,
            },
            other => other,
        }
    }

    /// Sets the CONTEXT line (kept if the error already has one: the innermost wins).
    pub fn with_context(self, text: impl Into<String>) -> Error {
        match self {
            Error::Sql {
                code,
                message,
                detail,
                context,
            } => Error::Sql {
                code,
                message,
                detail,
                context: context.or_else(|| Some(text.into())),
            },
            other => other,
        }
    }

    /// Whether the statement found a row locked by another transaction and was undone, to
    /// be run again (see `orbit_txn::Error::LockBusy`).
    pub fn is_lock_busy(&self) -> bool {
        matches!(self, Error::Txn(t) if t.is_lock_busy())
    }

    /// The PostgreSQL SQLSTATE.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Error::Sql { code, .. } => code,
            Error::Txn(e) => e.sqlstate(),
        }
    }

    /// The DETAIL field, if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::Sql { detail, .. } => detail.as_deref(),
            Error::Txn(_) => None,
        }
    }

    /// The CONTEXT field, if any.
    pub fn context(&self) -> Option<&str> {
        match self {
            Error::Sql { context, .. } => context.as_deref(),
            Error::Txn(_) => None,
        }
    }

    /// `42601 syntax error`.
    pub fn syntax(message: impl Into<String>) -> Error {
        Error::new(code::SYNTAX_ERROR, message)
    }

    /// `0A000 feature_not_supported`.
    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::new(code::FEATURE_NOT_SUPPORTED, message)
    }

    /// `22P02 invalid_text_representation`: `invalid input syntax for type T: "v"`.
    pub fn invalid_input(type_name: &str, input: &str) -> Error {
        Error::new(
            code::INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax for type {type_name}: \"{input}\""),
        )
    }
}

impl From<orbit_lsm::Error> for Error {
    fn from(e: orbit_lsm::Error) -> Error {
        Error::Txn(orbit_txn::Error::Lsm(e))
    }
}

/// The SQLSTATE codes this crate raises (PostgreSQL's Appendix A names).
pub mod code {
    pub const SYNTAX_ERROR: &str = "42601";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const INVALID_BINARY_REPRESENTATION: &str = "22P03";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const STRING_DATA_RIGHT_TRUNCATION: &str = "22001";
    pub const INVALID_DATETIME_FORMAT: &str = "22007";
    pub const DATETIME_FIELD_OVERFLOW: &str = "22008";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const ARRAY_SUBSCRIPT_ERROR: &str = "2202E";
    pub const DATA_EXCEPTION: &str = "22000";
    pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
    pub const CANNOT_COERCE: &str = "42846";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const UNDEFINED_SCHEMA: &str = "3F000";
    pub const UNDEFINED_PARAMETER: &str = "42P02";
    pub const DUPLICATE_TABLE: &str = "42P07";
    pub const DUPLICATE_COLUMN: &str = "42701";
    pub const DUPLICATE_SCHEMA: &str = "42P06";
    pub const DUPLICATE_OBJECT: &str = "42710";
    pub const DUPLICATE_DATABASE: &str = "42P04";
    pub const UNDEFINED_DATABASE: &str = "3D000";
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    pub const GROUPING_ERROR: &str = "42803";
    pub const WINDOWING_ERROR: &str = "42P20";
    pub const INVALID_PRECEDING_OR_FOLLOWING_SIZE: &str = "22013";
    pub const INVALID_ARGUMENT_FOR_NTILE: &str = "22014";
    pub const INVALID_ARGUMENT_FOR_NTH_VALUE: &str = "22016";
    pub const INVALID_TABLE_DEFINITION: &str = "42P16";
    pub const INVALID_COLUMN_REFERENCE: &str = "42P10";
    pub const NOT_NULL_VIOLATION: &str = "23502";
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const FOREIGN_KEY_VIOLATION: &str = "23503";
    pub const INVALID_FOREIGN_KEY: &str = "42830";
    pub const CHECK_VIOLATION: &str = "23514";
    pub const IN_FAILED_TRANSACTION: &str = "25P02";
    pub const ACTIVE_SQL_TRANSACTION: &str = "25001";
    pub const NO_ACTIVE_SQL_TRANSACTION: &str = "25P01";
    pub const INVALID_TRANSACTION_STATE: &str = "25000";
    pub const SAVEPOINT_EXCEPTION: &str = "3B001";
    pub const CARDINALITY_VIOLATION: &str = "21000";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const QUERY_CANCELED: &str = "57014";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    pub const UNDEFINED_PREPARED_STATEMENT: &str = "26000";
    pub const INTERNAL_ERROR: &str = "XX000";
    pub const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";
    pub const WRONG_OBJECT_TYPE: &str = "42809";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const OBJECT_IN_USE: &str = "55006";
    pub const INVALID_NAME: &str = "42602";
    pub const INVALID_COLUMN_DEFINITION: &str = "42611";
    pub const SUBSTRING_ERROR: &str = "22011";
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    pub const INVALID_ARGUMENT_FOR_POWER: &str = "2201F";
    pub const DATA_CORRUPTED: &str = "XX001";
    pub const INDETERMINATE_DATATYPE: &str = "42P18";
    pub const INVALID_CURSOR_NAME: &str = "34000";
    pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
    pub const SEQUENCE_GENERATOR_LIMIT_EXCEEDED: &str = "2200H";
    pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
    pub const DUPLICATE_PREPARED_STATEMENT: &str = "42P05";
    pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";
    pub const BAD_COPY_FILE_FORMAT: &str = "22P04";
    pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
}
