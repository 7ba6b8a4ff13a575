use serde_json::json;

use super::*;

/// The document of gjson's syntax guide, plus the shapes KServe's samples and tests route on.
fn document() -> Value {
    json!({
        "name": {"first": "Tom", "last": "Anderson"},
        "age": 37,
        "children": ["Sara", "Alex", "Jack"],
        "fav.movie": "Deer Hunter",
        "friends": [
            {"first": "Dale", "last": "Murphy", "age": 44, "nets": ["ig", "fb", "tw"]},
            {"first": "Roger", "last": "Craig", "age": 68, "nets": ["fb", "tw"]},
            {"first": "Jane", "last": "Murphy", "age": 47, "nets": ["ig", "tw"]}
        ],
        "source": "client",
        "instances": [{"intval": 3, "strval": "the red-server one", "modelId": "2"}],
        "predictions": [{"label": "dog", "score": [0.8, 0.2]}],
        "vals": [
            {"a": 1, "b": "data"}, {"a": 2, "b": true}, {"a": 3, "b": false}, {"a": 4, "b": "0"},
            {"a": 5, "b": 0}, {"a": 6, "b": "1"}, {"a": 7, "b": 1}, {"a": 8, "b": "true"},
            {"a": 10, "b": null}, {"a": 11}
        ],
        "nothing": null
    })
}

fn found(path: &str) -> Option<Value> {
    let condition = Condition::parse(path).unwrap_or_else(|e| panic!("{path}: {}", e.message));
    find(&condition.path, Cow::Owned(document())).map(Cow::into_owned)
}

#[test]
fn paths_find_what_gjson_finds() {
    let cases = [
        ("name.last", json!("Anderson")),
        ("age", json!(37)),
        ("children.1", json!("Alex")),
        ("children.#", json!(3)),
        ("child*.2", json!("Jack")),
        ("c?ildren.0", json!("Sara")),
        ("fav\\.movie", json!("Deer Hunter")),
        ("friends.#.first", json!(["Dale", "Roger", "Jane"])),
        ("friends.1.last", json!("Craig")),
        ("friends.#(last==\"Murphy\").first", json!("Dale")),
        ("friends.#(last==\"Murphy\")#.first", json!(["Dale", "Jane"])),
        ("friends.#(last=Murphy)#.first", json!(["Dale", "Jane"])),
        ("friends.#(age>45)#.last", json!(["Craig", "Murphy"])),
        ("friends.#(first%\"D*\").last", json!("Murphy")),
        ("friends.#(first!%\"D*\").last", json!("Craig")),
        ("children.#(!%\"*a*\")", json!("Alex")),
        ("children.#(%\"*a*\")#", json!(["Sara", "Jack"])),
        ("friends.#(nets.#(==\"fb\"))#.first", json!(["Dale", "Roger"])),
        ("vals.#(b==~true)#.a", json!([2, 6, 7, 8])),
        ("vals.#(b==~false)#.a", json!([3, 4, 5, 10, 11])),
        ("vals.#(b==~null)#.a", json!([10, 11])),
        ("vals.#(b==~*)#.a", json!([1, 2, 3, 4, 5, 6, 7, 8, 10])),
        ("vals.#(b!=~*)#.a", json!([11])),
        ("[@this].#(source==client).age", json!(37)),
        ("[age,name.first,missing]", json!([37, "Tom"])),
        ("@this.name.first", json!("Tom")),
        ("friends.#( age >= 68 ).first", json!("Roger")),
        ("friends.#(age<=44).first", json!("Dale")),
        ("friends.#(age!=44)#.age", json!([68, 47])),
        ("friends.#(last<\"D\")#.first", json!(["Roger"])),
        ("nothing", Value::Null),
        ("friends.#(nope==1)#", json!([])),
    ];
    for (path, expected) in cases {
        assert_eq!(found(path), Some(expected), "{path}");
    }
}

#[test]
fn kserve_sample_conditions() {
    let doc = document();
    let test = |c: &str| Condition::parse(c).unwrap().matches(&doc);
    // The three conditions of KServe's switch sample, and those of its router tests.
    assert!(test("[@this].#(source==client)"));
    assert!(!test("instances.#(intval>10)"));
    assert!(test("instances.#(intval>2)"));
    assert!(test("instances.#(strval%*red-server*)"));
    assert!(test("predictions.#(label==\"dog\")"));
    assert!(!test("predictions.#(label==\"cat\")"));
    assert!(test("instances.#(modelId==\"2\")"));
    assert!(!test("instances.#(modelId==\"1\")"));
}

#[test]
fn what_is_not_found() {
    for path in [
        "name.middle",
        "children.3",
        "children.x",
        "age.0",
        "name.#",
        "friends.#(last==\"Smith\")",
        "friends.#(last==\"Murphy\").middle",
        "children.#(first==\"Sara\")",
        "friends.#(==\"x\")",
        "[@this].#(source==server)",
        "x*z",
        // A number is compared with the number its text parses to, 0 when it parses to none.
        "friends.#(age<ten)",
    ] {
        assert_eq!(found(path), None, "{path}");
    }
}

#[test]
fn numbers_strings_and_booleans_compare_as_gjson_does() {
    // The found value's type decides: numbers against the number the text parses to (0 if
    // none), strings bytewise against the text, booleans in gjson's order (false < true).
    let doc = json!({"v": [1.5, "b", true, false, null, {"k": 1}]});
    let all = |query: &str| {
        let condition = Condition::parse(&format!("v.#({query})#")).unwrap();
        find(&condition.path, Cow::Borrowed(&doc)).unwrap().into_owned()
    };
    assert_eq!(all(">1"), json!([1.5, "b"]));
    assert_eq!(all("==1.5"), json!([1.5]));
    assert_eq!(all("==\"1.5\""), json!([1.5]));
    assert_eq!(all("==true"), json!([true]));
    assert_eq!(all(">false"), json!([1.5, true]));
    assert_eq!(all("<true"), json!(["b", false]));
    assert_eq!(all("%\"?\""), json!(["b"]));
    assert_eq!(all("k==1"), json!([{"k": 1}]));
    // An object element has nothing at the empty path, and nothing is null-ish.
    assert_eq!(all("==~null"), json!([null, {"k": 1}]));
}

#[test]
fn like_matches_wildcards_and_escapes() {
    assert!(like("red-server-1", "*red-server*"));
    assert!(like("abc", "a?c") && !like("abbc", "a?c"));
    assert!(like("", "*") && like("x", "**") && !like("", "?"));
    assert!(like("a*b", "a\\*b") && !like("axb", "a\\*b"));
    assert!(like("ünïcode", "?n?code"));
    assert!(!like(&"a".repeat(200), &format!("{}b", "*a".repeat(50))), "no exponential backtracking");
}

#[test]
fn unsupported_syntax_is_refused_with_the_reason() {
    let cases = [
        ("", "the path is empty"),
        ("a|b", "the pipe '|' is not supported"),
        ("a.#(b==1)|c", "the pipe '|' is not supported"),
        ("children.@reverse", "the modifier '@reverse' is not supported"),
        ("{a,b}", "object multipath"),
        ("!true", "JSON literal"),
        ("..0", "JSON lines"),
        ("[a,b", "'[' is not closed"),
        ("[n:a]", "named selections"),
        ("a.#(b==1", "'#(' is not closed"),
        ("a.#(b==\"x)", "'\"' is not closed"),
        ("a.#()", "'#()' is empty"),
        ("a.#(b==)", "has no value"),
        ("a.#(b=>1)", "is not an operator and a value"),
        ("a.#(b!1)", "is not an operator"),
        ("a.#(b==~maybe)", "is not ~true"),
        ("a.#(b==\"x\"y)", "is not one JSON string"),
        ("a.#[b==1]", "write '#(…)'"),
        ("a.#x", "'#' is followed by 'x'"),
        ("a.#(b==1)x", "unexpected 'x'"),
        ("a.b==1", "unexpected '=' in 'b==1'"),
        ("instances.intval>10.5", "unexpected '>' in 'intval>10'"),
        ("a..b", "a key is empty"),
        ("a.", "the path ends with '.'"),
        ("a\\", "ends with '\\'"),
    ];
    for (text, expected) in cases {
        let e = Condition::parse(text).unwrap_err();
        assert!(e.message.contains(expected), "{text}: {}", e.message);
        assert!(
            e.message.starts_with(&format!("'{text}' is not a condition oxserve reads: ")),
            "{}",
            e.message
        );
    }
}

#[test]
fn reads_says_which_members_a_test_can_look_into() {
    let reads = |c: &str| Condition::parse(c).unwrap().reads("data");
    assert!(reads("inputs.0.data.#(>1)") && reads("inputs.#(data.#(>1))") && reads("inputs.0.d*"));
    assert!(reads("[inputs.0.data]") && reads("inputs.#.data") && reads("outputs.#(name==x)#.data"));
    assert!(!reads("inputs.#(name==\"x\")") && !reads("parameters.route") && !reads("[@this].#(id==1)"));
}

/// The same answers as gjson itself (its Rust port, by gjson's author) on the shapes of V2
/// messages a condition reads.
#[test]
fn exists_agrees_with_gjson() {
    let message = json!({
        "id": "r1",
        "parameters": {"tenant": "acme", "priority": 3, "fast": true},
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [2, 4], "data": [5.1, 3.5, 1.4, 0.2, 7.7, 3.8, 6.7, 2.2]},
            {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["urgent: call back"]}
        ]
    });
    let text = message.to_string();
    let conditions = [
        "parameters.tenant",
        "parameters.region",
        "[@this].#(parameters.tenant==\"acme\")",
        "[@this].#(parameters.tenant==acme)",
        "[@this].#(parameters.priority>2)",
        "[@this].#(parameters.priority>5)",
        "[@this].#(parameters.fast==true)",
        "[@this].#(parameters.fast==~true)",
        "[@this].#(parameters.slow==~false)",
        "inputs.#(name==\"input\")",
        "inputs.#(name==\"other\")",
        "inputs.#(name==\"input\").data.#(>7)",
        "inputs.#(name==\"input\").data.#(>8)",
        "inputs.#(datatype!=\"FP32\")",
        "inputs.#(shape.0>1)",
        "inputs.#(shape.0>2)",
        "inputs.1.data.#(%\"urgent*\")",
        "inputs.1.data.#(%\"*later*\")",
        "inputs.#(data.#(<0.5))#",
        "inputs.#(name%\"in*\")#.data",
        "inputs.#.name",
        "inputs.#",
        "inputs.2",
        "inp?ts.0.name",
        "id",
    ];
    for condition in conditions {
        let ours = Condition::parse(condition).unwrap().matches(&message);
        assert_eq!(ours, gjson::get(&text, condition).exists(), "{condition}");
    }
}

/// The paths of the tests above find, on the guide's document, what gjson finds. Not the `~`
/// queries: the Rust port predates gjson's rules for them (it finds nothing for `b==~null` and
/// counts "data" as false-ish), so they are checked against gjson's syntax guide above.
#[test]
fn found_values_agree_with_gjson() {
    let doc = document();
    let text = doc.to_string();
    let paths = [
        "name.last",
        "children.#",
        "child*.2",
        "fav\\.movie",
        "friends.#.first",
        "friends.#(last==\"Murphy\")#.first",
        "friends.#(last=Murphy).age",
        "friends.#(age>45)#.last",
        "friends.#(first%\"D*\").last",
        "friends.#(first!%\"D*\").last",
        "children.#(!%\"*a*\")",
        "friends.#(nets.#(==\"fb\"))#.first",
        "[@this].#(source==client).age",
        "[age,name.first,missing]",
        "instances.#(strval%*red-server*).modelId",
        "friends.#(age<ten)",
        "friends.#(nope==1)#",
        "name.middle",
        "nothing",
    ];
    for path in paths {
        let ours = found(path);
        let theirs = gjson::get(&text, path);
        let theirs = theirs.exists().then(|| serde_json::from_str::<Value>(theirs.json()).unwrap());
        assert_eq!(ours, theirs, "{path}");
    }
}
