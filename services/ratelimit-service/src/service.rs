//! The gRPC surface: envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit.

use std::sync::Arc;

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::RateLimitService;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use tonic::{Request, Response, Status};

use crate::decide::{decide, DecideError};
use crate::limits::Limits;
use crate::store::Store;

pub struct Service {
    pub limits: Arc<Limits>,
    pub store: Arc<Store>,
}

#[tonic::async_trait]
impl RateLimitService for Service {
    async fn should_rate_limit(
        &self,
        request: Request<RateLimitRequest>,
    ) -> Result<Response<RateLimitResponse>, Status> {
        let request = request.into_inner();
        match decide(&self.limits, &self.store, &request).await {
            Ok(response) => Ok(Response::new(response)),
            // UNAVAILABLE, not OK/UNKNOWN: it is what Envoy's failure_mode_deny acts on.
            Err(DecideError::Unavailable(e)) => {
                eprintln!("edgeward-ratelimit-service: storage error: {e}");
                Err(Status::unavailable(format!(
                    "rate limit counters unavailable: {e}"
                )))
            }
            Err(DecideError::InvalidArgument(msg)) => Err(Status::invalid_argument(msg)),
            Err(DecideError::Internal(msg)) => {
                eprintln!("edgeward-ratelimit-service: {msg}");
                Err(Status::internal(msg))
            }
        }
    }
}
