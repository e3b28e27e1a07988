//! One ZAP handler per implementation for the whole process, for the PLAIN cells.
//!
//! Both accept any username with the password `secret` and record every username they
//! refuse, so a wrong-password cell can wait for its own refusal (an event) before it
//! checks that nothing is delivered.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use zmq_async::zap::{self, ZapReply, ZapRequest};

/// The password both handlers accept.
pub const PASSWORD: &str = "secret";

fn denied() -> &'static Mutex<HashSet<Vec<u8>>> {
    static DENIED: OnceLock<Mutex<HashSet<Vec<u8>>>> = OnceLock::new();
    DENIED.get_or_init(Default::default)
}

/// The verdict both handlers give: 200 with the username as user id, or 400 (recorded).
fn verdict(username: &[u8], password: &[u8]) -> (&'static str, &'static str) {
    if password == PASSWORD.as_bytes() {
        ("200", "OK")
    } else {
        denied()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(username.to_vec());
        ("400", "wrong password")
    }
}

/// Starts both handlers once: ours on our inproc registry, libzmq's in the shared context.
pub fn ensure_handlers() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let _handle = zap::serve(|req: &ZapRequest| {
                    let user = req.username().cloned().unwrap_or_default();
                    let pass = req.password().cloned().unwrap_or_default();
                    match verdict(&user, &pass) {
                        ("200", _) => ZapReply::accept(user),
                        (_, text) => ZapReply::deny(400, text),
                    }
                })
                .await
                .expect("serve our ZAP handler");
                ready_tx.send(()).expect("ready");
                std::future::pending::<()>().await;
            });
        });
        ready_rx.recv().expect("our ZAP handler started");

        let rep = crate::side::ctx().socket(zmq::REP).expect("REP");
        rep.bind(zap::ENDPOINT).expect("bind libzmq's ZAP handler");
        std::thread::spawn(move || loop {
            // [version, request id, domain, address, identity, mechanism, user, password]
            let Ok(req) = rep.recv_multipart(0) else {
                return;
            };
            let field = |i: usize| req.get(i).cloned().unwrap_or_default();
            let (code, text) = verdict(&field(6), &field(7));
            let reply: Vec<Vec<u8>> = vec![
                b"1.0".to_vec(),
                field(1),
                code.into(),
                text.into(),
                field(6),
                Vec::new(),
            ];
            if rep.send_multipart(reply, 0).is_err() {
                return;
            }
        });
    });
}

/// Waits until a handler has refused `username` (bounded by the hang guard).
pub async fn wait_denied(username: &str) {
    let deadline = tokio::time::Instant::now() + zmq_tests::IO_TIMEOUT;
    loop {
        if denied()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(username.as_bytes())
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ZAP refusal for {username}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
