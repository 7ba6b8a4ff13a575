# serve(): a glm trained here, served from another R process, called over V2 and Seldon REST.

fit <- glm(am ~ wt + hp, data = mtcars, family = binomial)
model_file <- tempfile(fileext = ".rds")
saveRDS(fit, model_file)
cars <- data.frame(wt = c(2.5, 3.2, 1.9), hp = c(110, 150, 66))
expected <- unname(predict(fit, cars, type = "response"))

serve_glm <- function() {
  start_server(sprintf(
    'serve(readRDS("%s"), predict = function(model, newdata) predict(model, newdata, type = "response"),
           name = "cars", http_port = http_port, grpc_port = grpc_port)',
    model_file
  ), frame = parent.frame())
}

test_that("a glm answers V2 REST with one column per input, as predict() does", {
  server <- serve_glm()
  answer <- post_json(server, "/v2/models/cars/infer", list(inputs = list(fp64("wt", cars$wt), fp64("hp", cars$hp))))
  expect_equal(answer$status, 200L)
  output <- answer$json$outputs
  expect_equal(output$name, "predict")
  expect_equal(output$datatype, "FP64")
  expect_equal(unlist(output$shape), 3L)
  expect_equal(unlist(output$data), expected, tolerance = 1e-12)

  metadata <- jsonlite::fromJSON(http("GET", server, "/v2/models/cars")$body)
  expect_equal(metadata$platform, "R")
})

test_that("Seldon ndarray rows with names reach the model as a data frame", {
  server <- serve_glm()
  answer <- post_json(server, "/api/v1.0/predictions", list(
    data = list(names = c("wt", "hp"), ndarray = as.matrix(cars))
  ))
  expect_equal(answer$status, 200L)
  expect_equal(answer$json$data$ndarray, expected, tolerance = 1e-12)
  answer <- post_json(server, "/api/v1.0/predictions", list(jsonData = list(wt = I(2.5), hp = I(110))))
  expect_equal(answer$status, 200L)
  expect_equal(answer$json$jsonData, expected[1], tolerance = 1e-12)
})

test_that("a request R cannot take is a 400, and serving goes on", {
  server <- serve_glm()
  answer <- post_json(server, "/v2/models/cars/infer", list(inputs = list(fp64("wt", 1:2 + 0.5), fp64("hp", c(1, 2, 3)))))
  expect_equal(answer$status, 400L)
  expect_match(answer$json$error, "different numbers of rows")
  answer <- post_json(server, "/v2/models/cars/infer", list(inputs = list(fp64("wt", cars$wt), fp64("hp", cars$hp))))
  expect_equal(answer$status, 200L)
})

test_that("an R error is a 500 with its message, and the session keeps serving", {
  server <- start_server('
    serve(list(), predict = function(model, newdata) {
      if (any(newdata < 0)) stop("negative input: ", min(newdata))
      sqrt(newdata)
    }, name = "root", http_port = http_port, grpc_port = grpc_port)')
  answer <- post_json(server, "/v2/models/root/infer", list(inputs = list(fp64("x", c(4, -1)))))
  expect_equal(answer$status, 500L)
  expect_equal(answer$json$error, "model 'root': predict failed: negative input: -1")
  answer <- post_json(server, "/v2/models/root/infer", list(inputs = list(fp64("x", c(4, 9)))))
  expect_equal(answer$status, 200L)
  expect_equal(unlist(answer$json$outputs$data), c(2, 3))
})

test_that("a model without a predict method is a start-up error naming it", {
  expect_error(
    serve(structure(list(), class = "unfitted"), http_port = free_port(), grpc_port = free_port()),
    "no predict function: the model \\(class unfitted\\) has no predict method"
  )
  expect_error(serve(fit, predict = "predict"), "`predict` must be a function, not character")
})

test_that("a port in use is a start-up error naming it", {
  busy <- serverSocket(port <- free_port())
  on.exit(close(busy))
  expect_error(
    serve(fit, http_port = port, grpc_port = free_port()),
    sprintf("--http-port: cannot listen on 0.0.0.0:%d", port)
  )
})

test_that("concurrent requests are batched into one R call and each gets its own rows", {
  # Each call takes 50 ms, so that requests arrive while R is busy however loaded the machine.
  server <- start_server(sprintf(
    'serve(readRDS("%s"), predict = function(model, newdata) {
       Sys.sleep(0.05)
       predict(model, newdata, type = "response")
     }, name = "cars", http_port = http_port, grpc_port = grpc_port, max_batch_size = 64, max_batch_time = 0.01)',
    model_file
  ))
  rows <- data.frame(wt = runif(48, 1.5, 5.5), hp = runif(48, 50, 330))
  # Every request is sent before any answer is read: 48 concurrent connections, one process.
  pending <- lapply(seq_len(nrow(rows)), function(i) {
    request <- list(inputs = list(fp64("wt", rows$wt[i]), fp64("hp", rows$hp[i])))
    http_send("POST", server, "/v2/models/cars/infer", jsonlite::toJSON(request, auto_unbox = TRUE, digits = NA))
  })
  answers <- lapply(pending, http_receive)
  expect_true(all(vapply(answers, function(a) a$status, integer(1)) == 200L))
  got <- vapply(answers, function(a) jsonlite::fromJSON(a$body)$outputs$data[[1]], numeric(1))
  expect_equal(got, unname(predict(fit, rows, type = "response")), tolerance = 1e-12)
  metrics <- http("GET", server, "/metrics")$body
  executions <- regmatches(metrics, regexpr('nv_inference_exec_count\\{model="cars"[^}]*\\} [0-9]+', metrics))
  expect_lt(as.numeric(sub(".* ", "", executions)), nrow(rows) / 2)
})

test_that("Ctrl-C drains the server and serve() returns", {
  server <- start_server('
    serve(list(), predict = function(model, newdata) newdata, http_port = http_port, grpc_port = grpc_port)
    cat("serve() returned\n")')
  server$process$signal(tools::SIGINT)
  server$process$wait(10000)
  log <- paste(readLines(server$log), collapse = "\n")
  expect_equal(server$process$get_exit_status(), 0L, info = log)
  expect_match(log, "drained; bye.*serve\\(\\) returned")
})

test_that("V2 gRPC answers like REST, and an R error is INTERNAL with its message", {
  python <- Sys.getenv("OXSERVE_PYTHON")
  skip_if(python == "", "OXSERVE_PYTHON (a Python with tritonclient[grpc]) is not set; make r-test sets it")
  grpc <- function(server, model, ...) {
    columns <- c(...)
    args <- c(test_path("v2_grpc_client.py"), server$grpc_port, model, paste0(names(columns), "=", columns))
    jsonlite::fromJSON(system2(python, args, stdout = TRUE))
  }
  server <- serve_glm()
  answer <- grpc(server, "cars", wt = paste(cars$wt, collapse = ","), hp = paste(cars$hp, collapse = ","))
  expect_equal(answer$outputs$predict, expected, tolerance = 1e-12)
  answer <- grpc(server, "cars", wt = "1,2")
  expect_equal(answer$status, "StatusCode.INTERNAL")
  expect_match(answer$message, "model 'cars': predict failed: object 'hp' not found")
})

test_that("declared inputs from a metadata() method are checked before R runs", {
  server <- start_server('
    metadata.checked <- function(model, ...) {
      list(inputs = list(list(name = "x", datatype = "FP64", shape = c(-1))), versions = "3")
    }
    serve(structure(list(), class = "checked"), predict = function(model, newdata) newdata$x + 1,
          name = "checked", http_port = http_port, grpc_port = grpc_port)')
  metadata <- jsonlite::fromJSON(http("GET", server, "/v2/models/checked")$body)
  expect_equal(metadata$inputs$name, "x")
  expect_equal(metadata$versions, "3")
  answer <- post_json(server, "/v2/models/checked/infer", list(inputs = list(fp64("y", 1))))
  expect_equal(answer$status, 400L)
  expect_match(answer$json$error, "unexpected input 'y' for model 'checked'")
  answer <- post_json(server, "/v2/models/checked/infer", list(inputs = list(fp64("x", c(1, 2)))))
  expect_equal(unlist(answer$json$outputs$data), c(2, 3))
})

test_that("an interrupt while the model runs answers 503 and drains the server", {
  server <- start_server('
    serve(list(), predict = function(model, newdata) { Sys.sleep(30); newdata },
          http_port = http_port, grpc_port = grpc_port)
    cat("serve() returned\n")')
  request <- jsonlite::toJSON(list(inputs = list(fp64("x", 1))), auto_unbox = TRUE)
  pending <- http_send("POST", server, "/v2/models/model/infer", request)
  Sys.sleep(1)
  server$process$signal(tools::SIGINT)
  answer <- http_receive(pending)
  expect_equal(answer$status, 503L)
  expect_match(answer$body, "R was interrupted")
  server$process$wait(10000)
  expect_equal(server$process$get_exit_status(), 0L)
  expect_match(paste(readLines(server$log), collapse = "\n"), "serve\\(\\) returned")
})

test_that("Seldon gRPC (Seldon.Predict) reaches the model as a data frame, like Seldon REST", {
  python <- Sys.getenv("OXSERVE_PYTHON")
  protos <- Sys.getenv("OXSERVE_PROTOS")
  skip_if(python == "" || protos == "", "OXSERVE_PYTHON and OXSERVE_PROTOS are not set; make r-test sets them")
  server <- serve_glm()
  message <- jsonlite::toJSON(list(data = list(names = c("wt", "hp"), ndarray = as.matrix(cars))), digits = NA)
  answer <- system2(python, c(test_path("seldon_grpc_client.py"), server$grpc_port, protos, shQuote(message)), stdout = TRUE)
  answer <- jsonlite::fromJSON(paste(answer, collapse = "\n"))
  expect_equal(answer$data$ndarray, expected, tolerance = 1e-12)
})
