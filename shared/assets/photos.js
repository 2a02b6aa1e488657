// The studio's photo upload, on a product's page. The file goes from the browser straight to
// the photo bucket: the page answers `photo_request` with a presigned POST (whose policy pins
// the key, the type and the size), the script posts the fields and the file to S3, then
// submits `photo_confirm`, and the server checks the stored file (type, size, pixels) before
// the photo joins the product. Any refusal is said next to the file field. Without this
// script the upload form stays hidden and the page says why.
(function () {
  "use strict";
  var form = document.getElementById("photo-upload");
  if (!form) return;
  form.hidden = false;
  var input = form.querySelector("input[type=file]");
  var error = document.getElementById("photo-error");
  var button = form.querySelector("button[type=submit]");
  var token = form.querySelector("input[name=_token]").value;
  var label = button.textContent;

  function fail(message) {
    error.textContent = message;
    input.setAttribute("aria-invalid", "true");
    button.disabled = false;
    button.textContent = label;
    input.focus();
  }

  function field(name, value) {
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = name;
    hidden.value = value;
    return hidden;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    var file = input.files && input.files[0];
    if (!file) {
      fail("Choose a photo first.");
      return;
    }
    button.disabled = true;
    button.textContent = "Uploading…";
    var ask = new URLSearchParams({
      _token: token,
      action: "photo_request",
      content_type: file.type || "application/octet-stream",
      size_bytes: String(file.size),
    });
    fetch(form.action, { method: "POST", body: ask, credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || "The photo could not be uploaded; reload the page and try again.");
          return body;
        });
      })
      .then(function (post) {
        var data = new FormData();
        Object.keys(post.fields).forEach(function (name) {
          data.append(name, post.fields[name]);
        });
        data.append("file", file);
        return fetch(post.url, { method: "POST", body: data }).then(function (response) {
          if (!response.ok) throw new Error("The photo storage refused the file: a photo is a JPEG, PNG or WebP image of at most 5 MiB.");
          return post.photo_id;
        });
      })
      .then(function (photoId) {
        var confirm = document.createElement("form");
        confirm.method = "post";
        confirm.action = form.action;
        confirm.appendChild(field("_token", token));
        confirm.appendChild(field("action", "photo_confirm"));
        confirm.appendChild(field("photo_id", photoId));
        document.body.appendChild(confirm);
        confirm.submit();
      })
      .catch(function (e) {
        fail(e && e.message ? e.message : "The photo could not be uploaded; check your connection and try again.");
      });
  });
})();
