# The tour of examples/r-glm/README.md, run as written: train.R, serve.R and CarsModel.R.

example_dir <- function() {
  examples <- Sys.getenv("OXSERVE_EXAMPLES")
  skip_if(examples == "", "OXSERVE_EXAMPLES (the repository's examples folder) is not set; make r-test sets it")
  dir <- tempfile("r-glm")
  dir.create(dir)
  file.copy(list.files(file.path(examples, "r-glm"), full.names = TRUE), dir)
  withr::with_dir(dir, system2(file.path(R.home("bin"), "Rscript"), "train.R", stdout = FALSE))
  dir
}

test_that("serve.R answers the README's V2 and Seldon requests", {
  dir <- example_dir()
  server <- start_server(sprintf(
    'setwd("%s"); Sys.setenv(OXSERVE_HTTP_PORT = http_port, OXSERVE_GRPC_PORT = grpc_port); source("serve.R")', dir
  ))
  answer <- post_json(server, "/v2/models/cars/infer", list(inputs = list(fp64("wt", c(2.5, 3.2)), fp64("hp", c(110, 150)))))
  expect_equal(answer$json$outputs$name, c("probability", "transmission"))
  expect_equal(answer$json$outputs$data[[1]], c(0.9337470960991194, 0.17329071953222577))
  expect_equal(answer$json$outputs$data[[2]], c("manual", "automatic"))
  answer <- post_json(server, "/api/v1.0/predictions", list(data = list(names = c("wt", "hp"), ndarray = rbind(c(2.5, 110)))))
  expect_equal(answer$json$data$names, c("probability", "transmission"))
  expect_equal(answer$json$data$ndarray, rbind(c("0.933747096099119", "manual")))
  answer <- post_json(server, "/v2/models/cars/infer", list(inputs = list(fp64("wt", 2.5))))
  expect_equal(answer$json$error, "model 'cars': predict failed: object 'hp' not found")
})

test_that("CarsModel.R answers Seldon's /predict through serve_file()", {
  dir <- example_dir()
  server <- start_server(sprintf('setwd("%s"); serve_file("CarsModel.R", http_port = http_port, grpc_port = grpc_port)', dir))
  answer <- post_json(server, "/predict", list(data = list(names = c("wt", "hp"), ndarray = rbind(c(2.5, 110), c(3.2, 150)))))
  expect_equal(answer$json$data$names, c("automatic", "manual"))
  expect_equal(answer$json$data$ndarray[, 2], c(0.9337470960991194, 0.17329071953222577))
})
