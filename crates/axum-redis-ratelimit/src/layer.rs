//! The tower `Layer` and `Service` pair that puts a `RateLimiter` in front of routes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::limiter::RateLimiter;
use crate::reservation::Reservation;

/// Limits the routes it wraps: `router.route_layer(RateLimitLayer::new(limiter))`.
/// As a route layer it sees the route's template (`MatchedPath`), so a policy for
/// `/users/{id}` limits every user's page as one route. Handlers need know nothing of
/// it; one that learns what its request cost only afterwards settles it through the
/// `Reservation` in the request's extensions. The peer address comes from
/// `ConnectInfo`, so serve with `into_make_service_with_connect_info::<SocketAddr>()`.
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Arc<RateLimiter>,
}

impl RateLimitLayer {
    pub fn new(limiter: Arc<RateLimiter>) -> RateLimitLayer {
        limiter.metrics();
        RateLimitLayer { limiter }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> RateLimitService<S> {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// The service `RateLimitLayer` wraps around a route.
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    limiter: Arc<RateLimiter>,
}

impl<S> Service<Request> for RateLimitService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let limiter = self.limiter.clone();
        // The clone that was polled ready serves this request; a fresh one stays.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let decided = limiter.check_request(&parts).await;
            match decided {
                Ok(checked) => {
                    let mut request = Request::from_parts(parts, body);
                    if let Some(plan) = checked.plan {
                        let reservation = Reservation::new(limiter.clone(), plan);
                        request.extensions_mut().insert(reservation);
                    }
                    let mut response = inner.call(request).await?;
                    if let Some(fields) = checked.fields {
                        response.headers_mut().extend(fields);
                    }
                    Ok(response)
                }
                Err(refusal) => Ok(refusal.into_response()),
            }
        })
    }
}
