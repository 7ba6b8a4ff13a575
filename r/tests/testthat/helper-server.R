# Each test serves its model from a separate R process (serve() occupies R's main thread, as it
# does in production) and talks to it over loopback with a small HTTP/1.1 client on base R's
# sockets, since CRAN's HTTP clients are not installable here.

free_port <- function() {
  repeat {
    port <- sample(20000:60000, 1)
    socket <- tryCatch(serverSocket(port), error = function(e) NULL)
    if (!is.null(socket)) {
      close(socket)
      return(port)
    }
  }
}

# Starts `Rscript -e code` with the package's own library path. `code` sees `http_port` and
# `grpc_port`; the process is stopped (SIGINT) when the calling test ends.
start_server <- function(code, env = character(), ready = "/v2/health/ready", frame = parent.frame()) {
  http_port <- free_port()
  grpc_port <- free_port()
  script <- tempfile(fileext = ".R")
  writeLines(c(
    sprintf("http_port <- %dL; grpc_port <- %dL", http_port, grpc_port),
    "library(oxserve)",
    code
  ), script)
  log <- tempfile(fileext = ".log")
  process <- processx::process$new(
    file.path(R.home("bin"), "Rscript"), script,
    env = c("current", R_LIBS = paste(.libPaths(), collapse = .Platform$path.sep), env),
    stdout = log, stderr = "2>&1"
  )
  server <- list(process = process, port = http_port, grpc_port = grpc_port, log = log)
  withr::defer(stop_server(server), envir = frame)
  deadline <- Sys.time() + 60
  repeat {
    if (!process$is_alive()) {
      stop("the server exited early:\n", paste(readLines(log), collapse = "\n"))
    }
    answer <- tryCatch(suppressWarnings(http("GET", server, ready)), error = function(e) NULL)
    if (!is.null(answer) && answer$status == 200L) break
    if (Sys.time() > deadline) stop("the server did not become ready:\n", paste(readLines(log), collapse = "\n"))
    Sys.sleep(0.1)
  }
  server
}

stop_server <- function(server) {
  if (server$process$is_alive()) {
    server$process$signal(tools::SIGINT)
    server$process$wait(10000)
    server$process$kill()
  }
}

# One HTTP/1.1 request; the answer's status, headers and body (text).
http <- function(method, server, path, body = NULL) {
  http_receive(http_send(method, server, path, body))
}

# Sends a request and returns the open connection, for http_receive() to read the answer from.
http_send <- function(method, server, path, body = NULL) {
  con <- socketConnection("127.0.0.1", server$port, blocking = TRUE, open = "r+b", timeout = 30)
  payload <- if (is.null(body)) raw(0) else charToRaw(enc2utf8(body))
  head <- paste0(
    method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n",
    "Content-Length: ", length(payload), "\r\nConnection: close\r\n\r\n"
  )
  writeBin(c(charToRaw(head), payload), con)
  con
}

http_receive <- function(con) {
  on.exit(close(con))
  response <- raw(0)
  repeat {
    chunk <- readBin(con, "raw", 65536L)
    if (length(chunk) == 0L) break
    response <- c(response, chunk)
  }
  text <- rawToChar(response)
  split <- regexpr("\r\n\r\n", text, fixed = TRUE)
  head <- strsplit(substr(text, 1L, split - 1L), "\r\n", fixed = TRUE)[[1]]
  list(
    status = as.integer(strsplit(head[1], " ", fixed = TRUE)[[1]][2]),
    headers = tolower(head[-1]),
    body = substr(text, split + 4L, nchar(text))
  )
}

# POSTs `request` (an R value, written as JSON) and parses the JSON answer.
post_json <- function(server, path, request) {
  answer <- http("POST", server, path, jsonlite::toJSON(request, auto_unbox = TRUE, digits = NA))
  answer$json <- jsonlite::fromJSON(answer$body, simplifyVector = TRUE)
  answer
}

# A V2 input of doubles.
fp64 <- function(name, values, shape = length(values)) {
  list(name = name, datatype = "FP64", shape = I(shape), data = I(values))
}
