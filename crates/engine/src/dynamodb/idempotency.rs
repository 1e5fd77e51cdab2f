//! TransactWriteItems' `ClientRequestToken` (the SDKs fill it in and send
//! it again when they retry): for 10 minutes after a transaction with a
//! token succeeded, the same request with that token changes nothing and
//! gets the first answer; another request with it gets
//! IdempotentParameterMismatchException, and one sent while the first is
//! still running TransactionInProgressException.
//!
//! Tokens live in memory (a restart forgets them) and at most
//! [`MAX_TOKENS`] are kept: past that, the oldest are forgotten before their
//! 10 minutes, so that a client cannot grow the engine's memory without
//! bound.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::front::error::{err, ApiError, Code};

/// How long a token is remembered after its transaction succeeded.
pub(super) const WINDOW_MS: u64 = 10 * 60 * 1000;
/// Tokens remembered at most.
pub(super) const MAX_TOKENS: usize = 100_000;

/// The request's members that make two requests with a token the same one.
fn digest(req: &Map<String, Json>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for (k, v) in req {
        if !matches!(
            k.as_str(),
            "ClientRequestToken" | "ReturnConsumedCapacity" | "ReturnItemCollectionMetrics"
        ) {
            hasher.update(k.as_bytes());
            hasher.update(v.to_string().as_bytes());
        }
    }
    hasher.finalize().into()
}

#[derive(Debug)]
enum State {
    Running,
    /// Succeeded at this clock time (ms), with this answer.
    Done(u64, Json),
}

#[derive(Debug)]
struct Entry {
    digest: [u8; 32],
    state: State,
}

/// The tokens of the last 10 minutes' transactions.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Succeeded tokens, oldest first.
    done: VecDeque<(u64, String)>,
}

/// What a request with a token does.
pub(super) enum Claim<'a> {
    /// Runs: a transaction not seen before (or forgotten).
    Run(Running<'a>),
    /// Answers as the first request did, changing nothing.
    Repeat(Json),
}

/// A transaction running under its token: [`Running::succeeded`] keeps the
/// token; dropped without it (refused, failed), the token is forgotten.
pub(super) struct Running<'a> {
    tokens: &'a Tokens,
    token: String,
    done: bool,
}

impl Tokens {
    /// Claims `token` for `req` at clock time `now_ms`.
    pub(super) fn claim<'a>(
        &'a self,
        token: &str,
        req: &Map<String, Json>,
        now_ms: u64,
    ) -> Result<Claim<'a>, ApiError> {
        let digest = digest(req);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expire(now_ms);
        match inner.entries.get(token) {
            Some(e) if e.digest != digest => Err(err(
                Code::IdempotentParameterMismatchException,
                "DynamoDB rejected the request because you retried a request with a different payload but with an idempotent token that was already used.",
            )),
            Some(Entry {
                state: State::Running,
                ..
            }) => Err(err(
                Code::TransactionInProgressException,
                "The transaction with the given request token is already in progress.",
            )),
            Some(Entry {
                state: State::Done(_, answer),
                ..
            }) => Ok(Claim::Repeat(answer.clone())),
            None => {
                inner.entries.insert(
                    token.to_string(),
                    Entry {
                        digest,
                        state: State::Running,
                    },
                );
                Ok(Claim::Run(Running {
                    tokens: self,
                    token: token.to_string(),
                    done: false,
                }))
            }
        }
    }
}

impl Inner {
    /// Forgets the tokens older than the window, and the oldest past
    /// [`MAX_TOKENS`].
    fn expire(&mut self, now_ms: u64) {
        while let Some((at, token)) = self.done.front() {
            let old = at.saturating_add(WINDOW_MS) <= now_ms;
            if !old && self.entries.len() < MAX_TOKENS {
                break;
            }
            let (at, token) = (*at, token.clone());
            self.done.pop_front();
            if matches!(self.entries.get(&token), Some(Entry { state: State::Done(t, _), .. }) if *t == at)
            {
                self.entries.remove(&token);
            }
        }
    }
}

impl Running<'_> {
    /// The transaction succeeded with `answer`: its token is kept.
    pub(super) fn succeeded(mut self, answer: &Json, now_ms: u64) {
        let mut inner = self.tokens.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = inner.entries.get_mut(&self.token) {
            e.state = State::Done(now_ms, answer.clone());
            inner.done.push_back((now_ms, self.token.clone()));
        }
        self.done = true;
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut inner = self.tokens.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.entries.remove(&self.token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(items: Json, token: &str) -> Map<String, Json> {
        json!({"TransactItems": items, "ClientRequestToken": token, "ReturnConsumedCapacity": "TOTAL"})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn a_token_repeats_its_answer_for_ten_minutes_and_refuses_another_request() {
        let tokens = Tokens::default();
        let first = req(json!([1]), "t");
        let Ok(Claim::Run(running)) = tokens.claim("t", &first, 0) else {
            panic!("first claim runs")
        };
        // Sent again while it runs.
        let e = tokens.claim("t", &first, 1).err().unwrap();
        assert_eq!(e.code, Code::TransactionInProgressException);
        running.succeeded(&json!({"a": 1}), 10);
        // The same request, ReturnConsumedCapacity aside.
        let mut again = first.clone();
        again.remove("ReturnConsumedCapacity");
        let Ok(Claim::Repeat(answer)) = tokens.claim("t", &again, 20) else {
            panic!("repeat")
        };
        assert_eq!(answer, json!({"a": 1}));
        let e = tokens.claim("t", &req(json!([2]), "t"), 30).err().unwrap();
        assert_eq!(e.code, Code::IdempotentParameterMismatchException);
        // Ten minutes after it succeeded, the token is new again.
        assert!(matches!(
            tokens.claim("t", &again, 10 + WINDOW_MS - 1),
            Ok(Claim::Repeat(_))
        ));
        assert!(matches!(
            tokens.claim("t", &req(json!([2]), "t"), 10 + WINDOW_MS),
            Ok(Claim::Run(_))
        ));
    }

    #[test]
    fn a_failed_transaction_leaves_its_token_free() {
        let tokens = Tokens::default();
        let first = req(json!([1]), "t");
        match tokens.claim("t", &first, 0) {
            Ok(Claim::Run(running)) => drop(running),
            _ => panic!("runs"),
        }
        assert!(matches!(
            tokens.claim("t", &req(json!([2]), "t"), 1),
            Ok(Claim::Run(_))
        ));
    }

    #[test]
    fn tokens_kept_are_bounded() {
        let tokens = Tokens::default();
        for i in 0..MAX_TOKENS + 10 {
            let token = i.to_string();
            let Ok(Claim::Run(r)) = tokens.claim(&token, &req(json!([i]), &token), 0) else {
                panic!("runs")
            };
            r.succeeded(&json!({}), 0);
        }
        let inner = tokens.inner.lock().unwrap();
        assert!(inner.entries.len() <= MAX_TOKENS);
        assert!(!inner.entries.contains_key("0"));
        assert!(inner.entries.contains_key(&(MAX_TOKENS + 9).to_string()));
    }
}
