# Conversions between tensors and R values, through a server that echoes or reshapes.

test_that("factors and characters answer as BYTES, logicals as BOOL, integers as INT32", {
  server <- start_server('
    serve(list(), predict = function(model, newdata) {
      switch(newdata$kind[1],
        factor = factor(ifelse(newdata$x > 0, "up", "down")),
        character = paste0("x=", newdata$x),
        logical = newdata$x > 0,
        integer = as.integer(round(newdata$x)))
    }, name = "kinds", http_port = http_port, grpc_port = grpc_port)')
  ask <- function(kind) {
    post_json(server, "/v2/models/kinds/infer", list(inputs = list(
      list(name = "kind", datatype = "BYTES", shape = I(2L), data = I(c(kind, kind))),
      fp64("x", c(1.5, -2))
    )))$json$outputs
  }
  expect_equal(ask("factor")$datatype, "BYTES")
  expect_equal(unlist(ask("factor")$data), c("up", "down"))
  expect_equal(unlist(ask("character")$data), c("x=1.5", "x=-2"))
  expect_equal(ask("logical")$datatype, "BOOL")
  expect_equal(unlist(ask("logical")$data), c(TRUE, FALSE))
  expect_equal(ask("integer")$datatype, "INT32")
  expect_equal(unlist(ask("integer")$data), c(2L, -2L))
})

test_that("matrices keep their shape and row order, and column names become Seldon names", {
  server <- start_server('
    serve(list(), predict = function(model, newdata) {
      out <- cbind(low = newdata[, 1] * 10, high = newdata[, 2] * 100)
      if (is.data.frame(newdata)) out else unname(out)
    }, name = "m", http_port = http_port, grpc_port = grpc_port)')
  answer <- post_json(server, "/v2/models/m/infer", list(inputs = list(fp64("x", c(1, 2, 3, 4, 5, 6), shape = c(3, 2)))))
  expect_equal(unlist(answer$json$outputs$shape), c(3L, 2L))
  expect_equal(unlist(answer$json$outputs$data), c(10, 200, 30, 400, 50, 600))
  answer <- post_json(server, "/api/v1.0/predictions", list(data = list(names = c("a", "b"), ndarray = rbind(c(1, 2), c(3, 4)))))
  expect_equal(answer$json$data$names, c("low", "high"))
  expect_equal(answer$json$data$ndarray, rbind(c(10, 200), c(30, 400)))
})

test_that("a data frame answers a columnar request with one output per column", {
  server <- start_server('
    serve(list(), predict = function(model, newdata) {
      data.frame(label = factor(ifelse(newdata$p > 0.5, "yes", "no")), p = newdata$p)
    }, name = "df", http_port = http_port, grpc_port = grpc_port)')
  answer <- post_json(server, "/v2/models/df/infer", list(inputs = list(fp64("p", c(0.9, 0.1)))))
  outputs <- answer$json$outputs
  expect_equal(outputs$name, c("label", "p"))
  expect_equal(outputs$datatype, c("BYTES", "FP64"))
  expect_equal(outputs$data[[1]], c("yes", "no"))
  expect_equal(outputs$data[[2]], c(0.9, 0.1))
})

test_that("jsonData reaches the model as a list and a list answers as jsonData", {
  server <- start_server('
    serve(list(), predict = function(model, newdata) list(greeting = paste("hello", newdata$who), n = length(newdata$scores)),
          name = "json", http_port = http_port, grpc_port = grpc_port)')
  answer <- post_json(server, "/api/v1.0/predictions", list(jsonData = list(who = "R", scores = c(1, 2, 3))))
  expect_equal(answer$status, 200L)
  expect_equal(answer$json$jsonData, list(greeting = "hello R", n = 3L))
})
