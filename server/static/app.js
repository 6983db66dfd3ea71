/* Report Archive: small enhancements; every page also works without this file. */
(function () {
  "use strict";

  /* "/" focuses the search box (unless the user is typing somewhere). */
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var box = document.querySelector("[data-focus-key]");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });

  /* Results page: n / p go to the next / previous page (the pager's rel=next / rel=prev links). */
  function setupPageKeys() {
    if (!document.querySelector(".pager")) return;
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      var link = event.key === "n" ? document.querySelector('.pager a[rel="next"]')
               : event.key === "p" ? document.querySelector('.pager a[rel="prev"]') : null;
      if (link) location.href = link.href;
    });
  }

  /* Phones: the facets fold behind a 筛选 button, so that the first result is on the first screen. */
  function setupFilterFold() {
    var sidebar = document.getElementById("filters");
    var toggle = sidebar && sidebar.querySelector(".filters-toggle");
    if (!toggle || !window.matchMedia) return;
    var phone = window.matchMedia("(max-width: 760px)");
    function apply() {
      toggle.hidden = !phone.matches;
      sidebar.classList.toggle("folded", phone.matches && toggle.getAttribute("aria-expanded") !== "true");
    }
    toggle.setAttribute("aria-expanded", "false");
    toggle.addEventListener("click", function () {
      toggle.setAttribute("aria-expanded", toggle.getAttribute("aria-expanded") === "true" ? "false" : "true");
      apply();
    });
    if (phone.addEventListener) phone.addEventListener("change", apply);
    apply();
  }

  /* Document view: step through the highlighted matches with 上一个 / 下一个. */
  function setupMatchNavigation() {
    var marks = Array.prototype.slice.call(document.querySelectorAll("mark.match"));
    var prev = document.getElementById("prev-mark");
    var next = document.getElementById("next-mark");
    var position = document.getElementById("mark-pos");
    var first = document.getElementById("first-mark");
    if (!marks.length || !prev || !next) return;
    var current = -1;

    function show(index) {
      if (current >= 0) marks[current].classList.remove("current");
      current = (index + marks.length) % marks.length;
      var mark = marks[current];
      var details = mark.closest("details");
      if (details && !details.open) details.open = true;
      mark.classList.add("current");
      mark.scrollIntoView({ block: "center" });
      position.textContent = (current + 1) + " / " + marks.length;
      if (window.history && history.replaceState) history.replaceState(null, "", "#" + mark.id);
    }

    prev.hidden = false;
    next.hidden = false;
    if (first) first.hidden = true;
    position.textContent = "共 " + marks.length + " 处";
    prev.addEventListener("click", function () { show(current < 0 ? marks.length - 1 : current - 1); });
    next.addEventListener("click", function () { show(current + 1); });
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "n") show(current + 1);
      else if (event.key === "p") show(current < 0 ? marks.length - 1 : current - 1);
    });
    var arrived = /^#m\d+$/.test(location.hash) ? marks.findIndex(function (m) { return "#" + m.id === location.hash; }) : -1;
    if (arrived >= 0) show(arrived);
  }

  /* Start page: drag and drop (or choose) report files to upload them with the admin token. */
  function setupUpload() {
    var box = document.getElementById("upload");
    if (!box || !window.fetch || !window.FormData) return;
    box.hidden = false;
    var url = box.getAttribute("data-upload-url");
    var input = document.getElementById("upload-input");
    var log = document.getElementById("upload-log");
    var labels = { queued: "已保存，等待索引", indexed: "已入库", unchanged: "内容未变化", duplicate: "与已有报告重复",
                   failed: "无法读取", deleted: "已删除" };

    function token() {
      var value = sessionStorage.getItem("archive-admin-token");
      if (!value) {
        value = window.prompt("上传需要管理员令牌（admin token）：");
        if (value) sessionStorage.setItem("archive-admin-token", value.trim());
      }
      return value ? value.trim() : "";
    }

    function report(item, file, text, link) {
      item.textContent = file.name + "：" + text;
      if (link) {
        var anchor = document.createElement("a");
        anchor.href = link;
        anchor.textContent = "查看";
        item.appendChild(document.createTextNode(" "));
        item.appendChild(anchor);
      }
    }

    function upload(file) {
      var secret = token();
      if (!secret) return;
      var item = document.createElement("li");
      log.insertBefore(item, log.firstChild);
      report(item, file, "上传中…");
      var form = new FormData();
      form.append("file", file);
      fetch(url, { method: "POST", headers: { Authorization: "Bearer " + secret }, body: form })
        .then(function (response) {
          return response.json().then(function (body) { return { status: response.status, body: body }; });
        })
        .then(function (answer) {
          if (answer.status === 401) sessionStorage.removeItem("archive-admin-token");
          if (!answer.body.ok) {
            report(item, file, "失败（" + answer.status + "）：" + answer.body.error);
            return;
          }
          var receipt = answer.body.receipt;
          var text = (labels[receipt.status] || receipt.status) + (receipt.reason ? "：" + (receipt.reason_zh || receipt.reason) : "");
          report(item, file, text + "（保存为 " + receipt.path + "）", receipt.id ? "/documents/" + encodeURIComponent(receipt.id) : "");
        })
        .catch(function () { report(item, file, "上传失败：网络错误"); });
    }

    function uploadAll(files) {
      for (var i = 0; i < files.length; i++) upload(files[i]);
    }

    input.addEventListener("change", function () { uploadAll(input.files); input.value = ""; });
    document.addEventListener("dragover", function (event) {
      if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0) {
        event.preventDefault();
        document.body.classList.add("dragging");
      }
    });
    document.addEventListener("dragleave", function (event) {
      if (!event.relatedTarget) document.body.classList.remove("dragging");
    });
    document.addEventListener("drop", function (event) {
      document.body.classList.remove("dragging");
      if (event.dataTransfer && event.dataTransfer.files.length) {
        event.preventDefault();
        uploadAll(event.dataTransfer.files);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupMatchNavigation();
    setupUpload();
    setupPageKeys();
    setupFilterFold();
  });
})();
