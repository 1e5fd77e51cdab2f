//! Errors answered to clients: a service error code and its message.

/// Declares the error codes the services answer, with their wire names.
macro_rules! codes {
    ($($code:ident),* $(,)?) => {
        /// An error code as the service sends it in `__type`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(clippy::enum_variant_names, dead_code)]
        pub(crate) enum Code {
            $($code,)*
        }

        impl Code {
            /// The wire name (`__type`, `x-amzn-errortype`).
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code),)*
                }
            }
        }
    };
}

codes! {
    AccessDeniedException,
    ConditionalCheckFailedException,
    ContinuousBackupsUnavailableException,
    ExpiredIteratorException,
    ExpiredNextTokenException,
    IdempotentParameterMismatchException,
    IncompleteSignatureException,
    InternalFailure,
    InternalServerError,
    InvalidArgumentException,
    InvalidSignatureException,
    KMSAccessDeniedException,
    KMSDisabledException,
    KMSInvalidStateException,
    KMSNotFoundException,
    LimitExceededException,
    MissingAuthenticationTokenException,
    ProvisionedThroughputExceededException,
    RequestEntityTooLargeException,
    RequestTimeoutException,
    ResourceInUseException,
    ResourceNotFoundException,
    SerializationException,
    TableNotFoundException,
    TransactionCanceledException,
    TransactionInProgressException,
    UnknownOperationException,
    UnrecognizedClientException,
    ValidationException,
}

/// An error answered to the client.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: Code,
    pub(crate) message: String,
    /// More members of the error's body (DynamoDB's CancellationReasons).
    pub(crate) details: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

/// A client error (HTTP 400).
pub(crate) fn err(code: Code, message: impl Into<String>) -> ApiError {
    ApiError {
        status: 400,
        code,
        message: message.into(),
        details: None,
    }
}

/// A server-side failure (HTTP 500, `InternalFailure`).
pub(crate) fn internal(message: impl Into<String>) -> ApiError {
    ApiError {
        status: 500,
        code: Code::InternalFailure,
        message: message.into(),
        details: None,
    }
}
