# serve_file(): model files written for Seldon Core's R wrapper, served unchanged.

fit <- glm(am ~ wt + hp, data = mtcars, family = binomial)
model_file <- tempfile(fileext = ".rds")
saveRDS(fit, model_file)

# Writes a Seldon-style R file and serves it with `env` (Seldon's variables) set.
serve_seldon <- function(lines, env = character(), frame = parent.frame()) {
  file <- tempfile(fileext = ".R")
  writeLines(lines, file)
  start_server(
    sprintf('serve_file("%s", http_port = http_port, grpc_port = grpc_port)', file),
    env = env, frame = frame
  )
}

seldon_model <- c(
  "library(methods)",
  "initialise_seldon <- function(params) {",
  "  structure(list(fit = readRDS(params$model), cutoff = params$cutoff), class = 'cars')",
  "}",
  "predict.cars <- function(cars, newdata = list()) {",
  "  p <- predict(cars$fit, newdata = newdata, type = 'response')",
  "  cbind(auto = 1 - p, manual = p)",
  "}",
  "send_feedback.cars <- function(cars, request, reward, truth) {",
  "  message('feedback reward ', reward, ' for ', nrow(request), ' rows')",
  "}"
)
parameters <- sprintf(
  '[{"name":"model","value":"%s","type":"STRING"},{"name":"cutoff","value":"0.5","type":"FLOAT"}]',
  model_file
)

test_that("a Seldon R model file answers /predict with its column names, ndarray and tensor alike", {
  server <- serve_seldon(seldon_model, env = c(PREDICTIVE_UNIT_PARAMETERS = parameters))
  cars <- data.frame(wt = c(2.5, 3.2), hp = c(110, 150))
  p <- unname(predict(fit, cars, type = "response"))
  answer <- post_json(server, "/predict", list(data = list(names = c("wt", "hp"), ndarray = as.matrix(cars))))
  expect_equal(answer$status, 200L)
  expect_equal(answer$json$data$names, c("auto", "manual"))
  expect_equal(answer$json$data$ndarray, cbind(1 - p, p), tolerance = 1e-12, ignore_attr = TRUE)
  answer <- post_json(server, "/api/v1.0/predictions", list(
    data = list(names = c("wt", "hp"), tensor = list(shape = c(2, 2), values = c(t(as.matrix(cars)))))
  ))
  expect_equal(answer$json$data$tensor$shape, c(2L, 2L))
  expect_equal(answer$json$data$tensor$values, c(t(cbind(1 - p, p))), tolerance = 1e-12)
  # Fields of jsonData are the data frame's columns; a numeric answer to it is a data.tensor.
  answer <- post_json(server, "/predict", list(jsonData = list(wt = 2.5, hp = 110)))
  expect_equal(answer$json$data$names, c("auto", "manual"))
  expect_equal(answer$json$data$tensor$values, c(1 - p[1], p[1]), tolerance = 1e-12)
})

test_that("send_feedback receives the request as a data frame and the caller's reward", {
  server <- serve_seldon(seldon_model, env = c(PREDICTIVE_UNIT_PARAMETERS = parameters))
  answer <- post_json(server, "/send-feedback", list(
    request = list(data = list(names = c("wt", "hp"), ndarray = rbind(c(2.5, 110)))),
    reward = 0.25
  ))
  expect_equal(answer$status, 200L)
  Sys.sleep(0.2)
  expect_match(paste(readLines(server$log), collapse = "\n"), "feedback reward 0.25 for 1 rows")
})

test_that("routers and transformers serve their service type's endpoint", {
  router <- serve_seldon(c(
    "initialise_seldon <- function(params) structure(list(), class = 'splitter')",
    "route.splitter <- function(splitter, newdata) if (newdata$x[1] > 0) 1L else 0L"
  ), env = c(SERVICE_TYPE = "ROUTER"))
  answer <- post_json(router, "/route", list(data = list(names = I("x"), ndarray = rbind(5))))
  expect_equal(answer$status, 200L)
  expect_equal(c(answer$json$data$ndarray), 1L)
  transformer <- serve_seldon(c(
    "initialise_seldon <- function(params) structure(list(), class = 'doubler')",
    "transform_input.doubler <- function(doubler, newdata) newdata * 2"
  ), env = c(SERVICE_TYPE = "TRANSFORMER"))
  answer <- post_json(transformer, "/transform-input", list(data = list(names = c("a", "b"), ndarray = rbind(c(1, 2)))))
  expect_equal(answer$json$data$names, c("a", "b"))
  expect_equal(c(answer$json$data$ndarray), c(2, 4))
  answer <- post_json(transformer, "/predict", list(data = list(ndarray = rbind(1))))
  expect_match(answer$json$status$info, "does not implement predict")
})

test_that("an R error in a Seldon model is a 500 with its message", {
  server <- serve_seldon(c(
    "initialise_seldon <- function(params) structure(list(), class = 'fragile')",
    "predict.fragile <- function(model, newdata) stop('cannot score column ', names(newdata)[1])"
  ))
  answer <- post_json(server, "/predict", list(data = list(names = I("income"), ndarray = rbind(1))))
  expect_equal(answer$status, 500L)
  expect_match(answer$body, "model 'file[0-9a-f]+': predict failed: cannot score column income")
})

test_that("a file without initialise_seldon or without its service type's method fails at start-up", {
  file <- tempfile(fileext = ".R")
  writeLines("predict.thing <- function(thing, newdata) 1", file)
  expect_error(serve_file(file), "defines no initialise_seldon\\(params\\) function")
  writeLines("initialise_seldon <- function(params) structure(list(), class = 'thing')", file)
  expect_error(serve_file(file, service_type = "ROUTER"), "no route function: the model \\(class thing\\) has no route method")
  expect_error(serve_file(file, service_type = "COMBINER"), "service type 'COMBINER': expected one of MODEL")
  expect_error(
    serve_file(file, parameters = '[{"name":"n","value":"x","type":"INT"}]'),
    "PREDICTIVE_UNIT_PARAMETERS\\[0\\]: expected \\{name, value, type\\}"
  )
})
