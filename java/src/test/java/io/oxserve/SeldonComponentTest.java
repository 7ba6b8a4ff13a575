package io.oxserve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A Java graph step (transformer, router, combiner, feedback) served alone, called on Seldon's component endpoints. */
class SeldonComponentTest {
    private static final Models.Component COMPONENT = new Models.Component();

    @RegisterExtension
    static final TestServers SERVED = TestServers.serving(builder -> builder
            .model("component", COMPONENT));

    @Test
    void transformInputRunsJava() {
        Http.Answer answer = SERVED.http().post("/transform-input", "{\"data\":{\"ndarray\":[[1.0,2.0]]}}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals("[[2.0,3.0]]", answer.body().get("data").get("ndarray").toString());
    }

    @Test
    void transformOutputIsTheIdentityWhenTheModelDoesNotOverrideIt() {
        Http.Answer answer = SERVED.http().post("/transform-output", "{\"data\":{\"ndarray\":[[1.0,2.0]]}}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals("[[1.0,2.0]]", answer.body().get("data").get("ndarray").toString());
    }

    @Test
    void routeAnswersTheJavaChoice() {
        Http.Answer answer = SERVED.http().post("/route", "{\"data\":{\"ndarray\":[[1.0]]}}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals("[[1]]", answer.body().get("data").get("ndarray").toString());
    }

    @Test
    void aggregateCombinesTheChildrenInJava() {
        Http.Answer answer = SERVED.http().post("/aggregate",
                "{\"seldonMessages\":[{\"data\":{\"ndarray\":[[1.0,4.0]]}},{\"data\":{\"ndarray\":[[3.0,8.0]]}}]}");
        assertEquals(200, answer.status(), answer.text());
        assertEquals("[[2.0,6.0]]", answer.body().get("data").get("ndarray").toString());
    }

    @Test
    void feedbackReachesJava() {
        Http.Answer answer = SERVED.http().post("/send-feedback", "{\"request\":{\"data\":{\"ndarray\":[[1.0]]}},"
                + "\"response\":{\"data\":{\"ndarray\":[[2.0]]}},\"reward\":0.75}");
        assertEquals(200, answer.status(), answer.text());
        assertTrue(COMPONENT.rewards.contains(0.75), COMPONENT.rewards.toString());
    }

    @Test
    void predictIsNotImplementedByAComponentWithoutIt() {
        Http.Answer answer = SERVED.http().post("/api/v1.0/predictions", "{\"data\":{\"ndarray\":[[1.0]]}}");
        assertEquals(400, answer.status(), "Seldon answers an unimplemented method as bad data: " + answer.text());
        assertTrue(answer.text().contains("does not implement predict"), answer.text());
    }
}
