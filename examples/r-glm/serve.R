# Serves model.rds (from train.R) as "cars" on :8080 (REST) and :8081 (gRPC), or the ports in
# OXSERVE_HTTP_PORT / OXSERVE_GRPC_PORT. Concurrent requests are gathered into one predict call
# of up to 64 rows. Ctrl-C drains and stops.
fit <- readRDS("model.rds")

oxserve::serve(
  fit,
  predict = function(model, newdata) {
    p <- predict(model, newdata, type = "response")
    data.frame(probability = unname(p), transmission = factor(ifelse(p > 0.5, "manual", "automatic")))
  },
  name = "cars",
  max_batch_size = 64,
  max_batch_time = 0.002
)
