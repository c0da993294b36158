//! The accept loop: each connection served by hyper, and a switch that makes
//! the server unreachable (new connections are dropped at once, open ones
//! are cut) without giving up its port. A handler can also cut its own
//! connection, to lose a reply the way a network does.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::Shared;

/// Put in every request's extensions: notifying it drops the connection
/// the request came on, with no answer.
#[derive(Clone)]
pub struct CutConnection(pub Arc<Notify>);

pub fn serve(listener: TcpListener, router: Router, shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            if shared.down.load(Ordering::SeqCst) {
                shared.refused.fetch_add(1, Ordering::SeqCst);
                drop(stream);
                continue;
            }
            let cut = Arc::new(Notify::new());
            let mut epoch = shared.epoch.subscribe();
            let router = router.clone();
            let handle = CutConnection(cut.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(handle.clone());
                    let mut router = router.clone();
                    async move { tower_service::Service::call(&mut router, request).await }
                });
                let connection =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = connection => {}
                    _ = cut.notified() => {}
                    _ = epoch.changed() => {}
                }
            });
        }
    })
}
