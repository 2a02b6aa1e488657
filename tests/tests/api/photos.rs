//! Product photos: the presigned POST (its policy decoded and checked, since moto's S3
//! enforces none of it), a real upload to moto's S3, confirm's checks, the image function's
//! renditions, the 8-photo limit, reordering and deleting, and who may do any of it.

use aws_lambda_events::event::sqs::SqsEvent;
use base64::Engine;
use e2e::photos::{jpeg, png, storage};
use e2e::{TestContext, User};
use image::ImageFormat;
use local::photos::PhotoStorage;
use serde_json::{Value, json};
use std::io::Write;

const MIB: u64 = 1024 * 1024;

/// A valid PNG header of `side`×`side` 1-bit grey pixels, all zero: a few dozen KiB on disk
/// that would decode to `side`² pixels (a decompression bomb at 20000).
fn bomb_png(side: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    let row = vec![0u8; 1 + side.div_ceil(8) as usize];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..side {
        z.write_all(&row).unwrap();
    }
    let idat = z.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn s3(ctx: &TestContext) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&ctx.aws).force_path_style(true).build())
}

async fn exists(ctx: &TestContext, key: &str) -> bool {
    s3(ctx).head_object().bucket(&ctx.app.config.photos.bucket).key(key).send().await.is_ok()
}

async fn read(ctx: &TestContext, key: &str) -> Vec<u8> {
    let out = s3(ctx).get_object().bucket(&ctx.app.config.photos.bucket).key(key).send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn put(ctx: &TestContext, key: &str, bytes: Vec<u8>) {
    s3(ctx)
        .put_object()
        .bucket(&ctx.app.config.photos.bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
        .send()
        .await
        .unwrap();
}

async fn ask(ctx: &TestContext, user: &User, product: &str, content_type: &str, size: u64) -> e2e::TestResponse {
    ctx.request("POST", &format!("/products/{product}/photos"))
        .auth(user)
        .json(&json!({"content_type": content_type, "size_bytes": size}))
        .send()
        .await
}

/// Asks for an upload of `bytes` as `content_type`, POSTs it to moto's S3 with the given
/// fields, and returns the photo id.
async fn upload(ctx: &TestContext, product: &str, content_type: &str, bytes: &[u8]) -> String {
    upload_declared(ctx, product, content_type, bytes, bytes.len() as u64).await
}

/// [`upload`], declaring `declared` bytes (moto's S3 takes a file larger than the policy says).
async fn upload_declared(ctx: &TestContext, product: &str, content_type: &str, bytes: &[u8], declared: u64) -> String {
    let grant = ask(ctx, &ctx.maker, product, content_type, declared.min(5 * MIB)).await.expect(201).json();
    let status = local::photos::upload(
        grant["url"].as_str().unwrap(),
        grant["fields"].as_object().unwrap(),
        bytes,
        content_type,
    )
    .await
    .unwrap();
    assert!((200..300).contains(&status), "the upload answered {status}");
    grant["photo_id"].as_str().unwrap().to_owned()
}

async fn confirm(ctx: &TestContext, user: &User, product: &str, photo: &str) -> e2e::TestResponse {
    ctx.request("POST", &format!("/products/{product}/photos/{photo}/confirm")).auth(user).send().await
}

fn upload_key(ctx: &TestContext, product: &str, photo: &str) -> String {
    format!("uploads/{}/{product}/{photo}", ctx.maker.sub)
}

/// Runs the image function on every message its queue holds now (the S3 notifications of
/// the originals), as the event source mapping would. Returns how many it handled.
async fn run_image_function(ctx: &TestContext, storage: &PhotoStorage) -> usize {
    let sqs = aws_sdk_sqs::Client::new(&ctx.aws);
    let mut handled = 0;
    for _ in 0..3 {
        let out = sqs
            .receive_message()
            .queue_url(&storage.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() && handled > 0 {
            break;
        }
        for message in messages {
            let event: SqsEvent = serde_json::from_value(json!({"Records": [{
                "messageId": message.message_id.clone().unwrap_or_default(),
                "body": message.body.clone().unwrap_or_default(),
                "eventSource": "aws:sqs",
            }]}))
            .unwrap();
            let response = photo_renditions::handle(&ctx.app, event).await;
            assert!(response.batch_item_failures.is_empty(), "the image function failed a message");
            sqs.delete_message()
                .queue_url(&storage.queue_url)
                .receipt_handle(message.receipt_handle.unwrap_or_default())
                .send()
                .await
                .unwrap();
            handled += 1;
        }
    }
    handled
}

fn ids(product: &Value) -> Vec<String> {
    product["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn photo_routes_are_for_the_products_maker_alone() {
    let ctx = TestContext::new().await;
    let id = ctx.create_product(&ctx.maker, json!({})).await["id"].as_str().unwrap().to_owned();
    let fake_photo = "pho_01JBZ8Q1W4K3M2N5P6R7S8T9V0";
    let body = json!({"content_type": "image/png", "size_bytes": 1000});
    let routes = [
        ("POST", format!("/products/{id}/photos"), Some(body.clone())),
        ("POST", format!("/products/{id}/photos/{fake_photo}/confirm"), None),
        ("DELETE", format!("/products/{id}/photos/{fake_photo}"), None),
    ];
    let send = |user: Option<User>, method: &'static str, path: String, body: Option<Value>| {
        let ctx = &ctx;
        async move {
            let mut req = ctx.request(method, &path);
            if let Some(user) = &user {
                req = req.auth(user);
            }
            if let Some(body) = &body {
                req = req.json(body);
            }
            req.send().await
        }
    };
    for (method, path, body) in &routes {
        send(None, method, path.clone(), body.clone()).await.problem(401);
        for user in [&ctx.customer, &ctx.other_maker, &ctx.admin] {
            let answer = send(Some(user.clone()), method, path.clone(), body.clone()).await;
            assert_eq!(answer.status, 403, "{} {method} {path}: {}", user.name, answer.text());
        }
    }
    // Unknown products are a 404, other methods on these paths a 405 with Allow.
    let unknown = "prd_01JBZ8Q1W4K3M2N5P6R7S8T9V0";
    ask(&ctx, &ctx.maker, unknown, "image/png", 1000).await.problem(404);
    let get = ctx.get(&format!("/products/{id}/photos")).auth(&ctx.maker).send().await;
    get.problem(405);
    assert_eq!(get.header("allow"), Some("POST"));

    // A removed product's maker may not touch its photos.
    ask(&ctx, &ctx.maker, &id, "image/png", 1000).await.expect(201);
    ctx.request("PATCH", &format!("/products/{id}"))
        .auth(&ctx.admin)
        .json(&json!({"status": "removed", "moderation_note": "Counterfeit."}))
        .send()
        .await
        .expect(200);
    ask(&ctx, &ctx.maker, &id, "image/png", 1000).await.problem(403);

    // A maker removed from the group loses photos with the next token, even for their own.
    let own = ctx.create_product(&ctx.other_maker, json!({})).await["id"].as_str().unwrap().to_owned();
    ask(&ctx, &ctx.other_maker, &own, "image/png", 1000).await.expect(201);
    let former = ctx.removed_from_makers(&ctx.other_maker).await;
    ask(&ctx, &former, &own, "image/png", 1000).await.problem(403);
}

#[tokio::test]
async fn the_presigned_policy_pins_the_key_the_type_the_size_and_ten_minutes() {
    let ctx = TestContext::new().await;
    ctx.clock.freeze();
    let id = ctx.create_product(&ctx.maker, json!({})).await["id"].as_str().unwrap().to_owned();

    let too_big = ask(&ctx, &ctx.maker, &id, "image/jpeg", 5 * MIB + 1).await;
    assert_eq!(too_big.invalid_fields(), ["size_bytes"]);
    assert_eq!(ask(&ctx, &ctx.maker, &id, "image/gif", 10).await.invalid_fields(), ["content_type"]);

    let answer = ask(&ctx, &ctx.maker, &id, "image/jpeg", 2 * MIB).await;
    let grant = answer.expect(201).json();
    let photo = grant["photo_id"].as_str().unwrap();
    assert!(photo.starts_with("pho_"), "{grant}");
    assert_eq!(answer.header("location"), Some(format!("/products/{id}/photos/{photo}").as_str()));
    let bucket = &ctx.app.config.photos.bucket;
    assert_eq!(grant["url"], json!(format!("{}/{bucket}", e2e::endpoint())));
    let fields = grant["fields"].as_object().unwrap();
    let field = |name: &str| fields[name].as_str().unwrap().to_owned();
    let key = format!("uploads/{}/{id}/{photo}", ctx.maker.sub);
    assert_eq!(field("key"), key);
    assert_eq!(field("Content-Type"), "image/jpeg");
    assert_eq!(field("x-amz-algorithm"), "AWS4-HMAC-SHA256");

    let policy = base64::engine::general_purpose::STANDARD.decode(field("policy")).unwrap();
    let policy: Value = serde_json::from_slice(&policy).unwrap();
    let conditions = policy["conditions"].as_array().unwrap();
    assert!(conditions.contains(&json!({"bucket": bucket})), "{policy}");
    assert!(conditions.contains(&json!(["eq", "$key", key])), "{policy}");
    assert!(conditions.contains(&json!(["eq", "$Content-Type", "image/jpeg"])), "{policy}");
    let range = conditions.iter().find(|c| c[0] == "content-length-range").unwrap();
    assert_eq!((range[1].as_u64(), range[2].as_u64()), (Some(1), Some(2 * MIB)));
    assert!(range[2].as_u64().unwrap() <= 5 * MIB);
    for name in ["x-amz-algorithm", "x-amz-credential", "x-amz-date"] {
        assert!(conditions.contains(&json!({name: field(name)})), "{name} is not pinned: {policy}");
    }
    // No other key, no prefix match that would let a browser write elsewhere.
    assert!(!policy.to_string().contains("starts-with"), "{policy}");

    let now = shared::domain::Clock::now(ctx.clock.as_ref());
    let expires = shared::domain::Timestamp::from_stored(policy["expiration"].as_str().unwrap().to_owned());
    let left = expires.to_system_time().unwrap().duration_since(now).unwrap_or_default().as_secs();
    assert!((590..=600).contains(&left), "the policy expires in {left} s");
    assert_eq!(grant["expires_at"], policy["expiration"]);

    // The signature is SigV4's over the base64 policy, with the credentials' secret ("test"
    // on the emulators) and the date and region of x-amz-credential.
    let credential = field("x-amz-credential");
    let parts: Vec<&str> = credential.split('/').collect();
    assert_eq!((parts[0], parts[2], parts[3], parts[4]), ("test", "eu-west-1", "s3", "aws4_request"));
    assert_eq!(parts[1], &field("x-amz-date")[..8]);
    let signing_key = aws_sigv4::sign::v4::generate_signing_key("test", now, "eu-west-1", "s3");
    let expected = aws_sigv4::sign::v4::calculate_signature(signing_key, field("policy").as_bytes());
    assert_eq!(field("x-amz-signature"), expected);
}

#[tokio::test]
async fn a_jpeg_uploaded_to_s3_is_confirmed_listed_and_rendered_as_webp() {
    let ctx = TestContext::new().await;
    let storage = storage(&ctx).await;
    let id = ctx.create_product(&ctx.maker, json!({})).await["id"].as_str().unwrap().to_owned();
    let photo = upload(&ctx, &id, "image/jpeg", &jpeg(1200, 900)).await;

    // Pending photos are not listed.
    let before = ctx.get(&format!("/products/{id}")).send().await.expect(200).json();
    assert_eq!(before["photos"], json!([]));

    let confirmed = confirm(&ctx, &ctx.maker, &id, &photo).await.expect(200).json();
    let listed = &confirmed["photos"][0];
    assert_eq!(
        (listed["id"].as_str(), listed["width"].as_u64(), listed["height"].as_u64()),
        (Some(photo.as_str()), Some(1200), Some(900))
    );
    assert_eq!((&listed["ready"], &listed["url"], &listed["sizes"]), (&json!(false), &Value::Null, &json!({})));
    // The upload became a private original; confirming again changes nothing.
    assert!(!exists(&ctx, &upload_key(&ctx, &id, &photo)).await);
    assert!(exists(&ctx, &format!("originals/{id}/{photo}")).await);
    let again = confirm(&ctx, &ctx.maker, &id, &photo).await.expect(200).json();
    assert_eq!(again, confirmed);

    // The original's S3 notification reached the queue (after S3's test event, which the
    // function skips); the image function makes the renditions.
    assert!(run_image_function(&ctx, &storage).await >= 1);
    for (width, size) in [(400, (400, 300)), (800, (800, 600))] {
        let webp = read(&ctx, &format!("public/{id}/{photo}/{width}.webp")).await;
        let decoded = image::load_from_memory_with_format(&webp, ImageFormat::WebP).unwrap();
        assert_eq!((decoded.width(), decoded.height()), size, "{width} px rendition");
    }
    let product = ctx.get(&format!("/products/{id}")).send().await.expect(200).json();
    let shown = &product["photos"][0];
    let base = format!("{}/{id}/{photo}/", storage.public_url);
    assert_eq!(shown["ready"], json!(true));
    assert_eq!(shown["url"], json!(format!("{base}800.webp")));
    assert_eq!(shown["sizes"], json!({"400": format!("{base}400.webp"), "800": format!("{base}800.webp")}));
    let listed = ctx.list_all(&[], 20).await;
    assert_eq!(listed[0]["photos"], product["photos"]);
    // Visitors' browsers load the renditions unsigned; the original stays private.
    assert_eq!(local::photos::anonymous_get(&format!("{base}400.webp")).await.unwrap(), 200);
    let original = format!("{}/originals/{id}/{photo}", storage.public_url.trim_end_matches("/public"));
    assert_eq!(local::photos::anonymous_get(&original).await.unwrap(), 403);

    // A replayed notification changes nothing.
    let replay: SqsEvent = serde_json::from_value(json!({"Records": [{"messageId": "replay", "eventSource": "aws:sqs",
        "body": json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": format!("originals/{id}/{photo}")}}}]}).to_string()}]}))
    .unwrap();
    assert!(photo_renditions::handle(&ctx.app, replay).await.batch_item_failures.is_empty());
    assert_eq!(ctx.get(&format!("/products/{id}")).send().await.json(), product);
}

#[tokio::test]
async fn bad_uploads_are_refused_with_the_reason_and_deleted() {
    let ctx = TestContext::new().await;
    storage(&ctx).await;
    let id = ctx.create_product(&ctx.maker, json!({})).await["id"].as_str().unwrap().to_owned();

    // Nothing uploaded.
    let grant = ask(&ctx, &ctx.maker, &id, "image/png", 1000).await.expect(201).json();
    let missing = grant["photo_id"].as_str().unwrap();
    let detail = confirm(&ctx, &ctx.maker, &id, missing).await.problem(400)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("Nothing was uploaded"), "{detail}");

    let refused = |bytes: Vec<u8>, content_type: &'static str, reason: &'static str| {
        let (ctx, id) = (&ctx, id.clone());
        async move {
            let photo = upload_declared(ctx, &id, content_type, &bytes, bytes.len() as u64).await;
            let problem = confirm(ctx, &ctx.maker, &id, &photo).await.problem(400);
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains(reason), "{content_type}: {detail}");
            assert!(!exists(ctx, &upload_key(ctx, &id, &photo)).await, "the refused upload was kept");
            // Its pending record went too.
            confirm(ctx, &ctx.maker, &id, &photo).await.problem(404);
        }
    };
    refused(b"Just some text, not a photo at all.".to_vec(), "image/jpeg", "not a JPEG").await;
    refused(png(20, 20), "image/jpeg", "not a JPEG").await;
    let mut big = jpeg(16, 16);
    big.resize((6 * MIB) as usize, 0);
    refused(big, "image/jpeg", "at most 5 MiB").await;
    let bomb = bomb_png(20_000);
    assert!(bomb.len() < 200_000, "the bomb is {} bytes", bomb.len());
    refused(bomb, "image/png", "20000×20000").await;
    let mut truncated = jpeg(64, 64);
    truncated.truncate(200);
    refused(truncated, "image/jpeg", "could not be").await;

    let product = ctx.get(&format!("/products/{id}")).auth(&ctx.maker).send().await.expect(200).json();
    assert_eq!(product["photos"], json!([]));
}

#[tokio::test]
async fn a_product_holds_eight_photos_and_they_are_reordered_and_deleted() {
    let ctx = TestContext::new().await;
    storage(&ctx).await;
    let id = ctx.create_product(&ctx.maker, json!({})).await["id"].as_str().unwrap().to_owned();
    let a = upload(&ctx, &id, "image/png", &png(40, 30)).await;
    let b = upload(&ctx, &id, "image/jpeg", &jpeg(30, 40)).await;
    confirm(&ctx, &ctx.maker, &id, &a).await.expect(200);
    let product = confirm(&ctx, &ctx.maker, &id, &b).await.expect(200).json();
    assert_eq!(ids(&product), [a.clone(), b.clone()]);
    for _ in 0..6 {
        ask(&ctx, &ctx.maker, &id, "image/webp", 100).await.expect(201);
    }
    // Pending uploads count: a 9th is a conflict.
    ask(&ctx, &ctx.maker, &id, "image/webp", 100).await.problem(409);

    let order = |ids: Value| {
        let ctx = &ctx;
        let path = format!("/products/{id}");
        async move { ctx.request("PATCH", &path).auth(&ctx.maker).json(&json!({"photo_order": ids})).send().await }
    };
    let reordered = order(json!([b, a])).await.expect(200).json();
    assert_eq!(ids(&reordered), [b.clone(), a.clone()]);
    assert!(reordered["updated_at"].as_str() >= product["updated_at"].as_str());
    for bad in
        [json!([a]), json!([a, a]), json!([a, b, b]), json!([a, "pho_01JBZ8Q1W4K3M2N5P6R7S8T9V0"]), json!(["x", b])]
    {
        assert_eq!(order(bad.clone()).await.invalid_fields(), ["photo_order"], "{bad}");
    }
    let shown = ctx.get(&format!("/products/{id}")).send().await.json();
    assert_eq!(ids(&shown), [b.clone(), a.clone()]);

    let path = format!("/products/{id}/photos/{a}");
    ctx.request("DELETE", &path).auth(&ctx.other_maker).send().await.problem(403);
    let deleted = ctx.request("DELETE", &path).auth(&ctx.maker).send().await;
    deleted.expect(204);
    assert!(deleted.body.is_empty());
    assert!(!exists(&ctx, &format!("originals/{id}/{a}")).await);
    ctx.request("DELETE", &path).auth(&ctx.maker).send().await.problem(404);
    let after = ctx.get(&format!("/products/{id}")).send().await.json();
    assert_eq!(ids(&after), std::slice::from_ref(&b));
    // A place is free again.
    ask(&ctx, &ctx.maker, &id, "image/webp", 100).await.expect(201);
    // The renditions of a deleted photo are cleaned up when its notification comes late.
    put(&ctx, &format!("public/{id}/{a}/400.webp"), b"stale".to_vec()).await;
    let late = photo_renditions::object_keys(
        &json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": format!("originals/{id}/{a}")}}}]})
            .to_string(),
    )
    .unwrap();
    assert_eq!(shared::photos::make_renditions(&ctx.app, &late[0]).await.ok(), Some(shared::photos::Processed::Gone));
    assert!(!exists(&ctx, &format!("public/{id}/{a}/400.webp")).await);
}
