package io.oxserve;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A Java transformer and router served alone, called on Seldon's component endpoints. */
class SeldonComponentTest {
    private static Server server;
    private static Http http;

    @BeforeAll
    static void start() {
        server = Server.builder()
                .host("127.0.0.1")
                .httpPort(Http.freePort())
                .grpcPort(Http.freePort())
                .logLevel("warn")
                .model("transformer", new Models.TransformAndRoute())
                .start();
        http = new Http(server.httpPort());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void transformInputRunsJava() {
        Http.Answer answer = http.post("/transform-input", "{\"data\":{\"ndarray\":[[1.0,2.0]]}}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals("[[2.0,3.0]]", answer.body().get("data").get("ndarray").toString());
    }

    @Test
    void transformOutputIsTheIdentityWhenTheModelDoesNotOverrideIt() {
        Http.Answer answer = http.post("/transform-output", "{\"data\":{\"ndarray\":[[1.0,2.0]]}}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals("[[1.0,2.0]]", answer.body().get("data").get("ndarray").toString());
    }

    @Test
    void routeAnswersTheJavaChoice() {
        Http.Answer answer = http.post("/route", "{\"data\":{\"ndarray\":[[1.0]]}}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals("[[1]]", answer.body().get("data").get("ndarray").toString());
    }
}
