/* The task pane: token, the three actions, the unit's score, objectives and findings. */
(function () {
  "use strict";

  var UI = {
    en: {
      title: "OKR check-in",
      subtitle: "Score this workbook against the OKR standard",
      tokenLabel: "Access token",
      tokenHint: "Paste the token your okr-sync admin gave you. It is kept in Office's settings for this add-in, never in the workbook.",
      save: "Save",
      validate: "Validate",
      score: "Score cycle",
      rollup: "Refresh rollup",
      asOf: "As of",
      changeToken: "Change token",
      objectives: "Objectives",
      findings: "Findings",
      working: "Working…",
      tokenSaved: "Token saved.",
      noOffice: "Open this pane from the OKR tab in Excel: the Excel JavaScript API is not available here.",
      scored: "Scored: {cells} cells written, {notes} cell notes.",
      validated: "Checked: {cells} Check cells written, {notes} cell notes.",
      rolled: "Company rollup written to {sheets} sheets: {units} units, company score {score}.",
      counts: "{errors} errors · {warnings} warnings",
      noFindings: "No findings: the workbook follows the standard.",
      noObjectives: "No objectives found in the OKRs sheet.",
      unscored: "no score",
      checkIn: "Check in",
      loadKrs: "List key results",
      keyResult: "Key result",
      current: "New Current",
      confidence: "Confidence (0–10)",
      comment: "Comment: what changed, and why",
      who: "Your name",
      submitCheckIn: "Check in",
      noKrs: "This workbook has no key results yet.",
      checkedIn: "Checked in {id}: written into the workbook and recorded.",
      nothingToCheckIn: "Type a new Current, a Confidence or a comment first.",
    },
    zh: {
      title: "OKR 检查",
      subtitle: "按 OKR 标准为本工作簿评分",
      tokenLabel: "访问令牌",
      tokenHint: "粘贴 okr-sync 管理员给您的令牌。令牌保存在本加载项的 Office 设置中，不会写入工作簿。",
      save: "保存",
      validate: "校验",
      score: "周期评分",
      rollup: "刷新汇总",
      asOf: "截至",
      changeToken: "更换令牌",
      objectives: "目标",
      findings: "问题",
      working: "处理中…",
      tokenSaved: "令牌已保存。",
      noOffice: "请从 Excel 的 OKR 选项卡打开此窗格：此处无法使用 Excel JavaScript API。",
      scored: "评分完成：写入 {cells} 个单元格，{notes} 条批注。",
      validated: "校验完成：写入 {cells} 个校验单元格，{notes} 条批注。",
      rolled: "公司汇总已写入 {sheets} 个工作表：{units} 个单元，公司得分 {score}。",
      counts: "{errors} 个错误 · {warnings} 个警告",
      noFindings: "没有问题：工作簿符合标准。",
      noObjectives: "OKRs 表中没有目标。",
      unscored: "无得分",
      checkIn: "更新进展",
      loadKrs: "列出关键结果",
      keyResult: "关键结果",
      current: "新的当前值",
      confidence: "信心指数（0–10）",
      comment: "说明：有什么变化，为什么",
      who: "您的姓名",
      submitCheckIn: "提交更新",
      noKrs: "此工作簿还没有关键结果。",
      checkedIn: "已更新 {id}：已写入工作簿并记录。",
      nothingToCheckIn: "请先填写新的当前值、信心指数或说明。",
    },
  };

  var lang = OkrClient.uiLanguage();
  var busy = false;
  var NO_COLOUR = "var(--grey-bg)";  // bands.css, served from the core

  function $(id) { return document.getElementById(id); }

  function tr(key, values) {
    var text = UI[lang][key] || UI.en[key] || key;
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    return text;
  }

  function translate() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    Array.prototype.forEach.call(document.querySelectorAll("[data-t]"), function (el) {
      el.textContent = tr(el.getAttribute("data-t"));
    });
  }

  function setStatus(text, kind) {
    var el = $("status");
    el.textContent = text || "";
    el.className = "status" + (kind ? " " + kind : "");
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function fmtScore(score) {
    return score === null || score === undefined ? "–" : Number(score).toFixed(2);
  }

  function showTokenBox(show) {
    $("token-box").hidden = !show;
    $("change-token").hidden = show;
  }

  function renderResult(result) {
    lang = result.language === "zh" ? "zh" : "en";
    translate();
    $("summary").hidden = false;
    var badge = $("score-badge");
    badge.textContent = fmtScore(result.score);
    // The server colours the score (pace during the cycle, grade band after it): no thresholds here.
    badge.style.background = result.fill || NO_COLOUR;
    var names = [result.unit];
    if (result.name && result.name !== result.unit) names.push(result.name);
    $("unit-name").textContent = names.filter(Boolean).join(" · ") || result.source;
    $("unit-line").textContent = result.source;
    $("counts").textContent = tr("counts", { errors: result.errors, warnings: result.warnings });
    // How much of the score is measured, next to it (the server's figure, in the workbook's language).
    $("coverage").textContent = result.coverage_text || "";

    var list = $("objectives");
    list.textContent = "";
    $("objectives-box").hidden = false;
    if (!result.objectives.length) list.appendChild(el("li", "empty", tr("noObjectives")));
    result.objectives.forEach(function (o) {
      var li = el("li");
      li.style.borderLeftColor = o.fill || NO_COLOUR;
      li.setAttribute("data-id", o.id);
      var head = el("div", "head");
      var id = el("span", "oid", o.id);
      id.onclick = function () { OkrClient.selectCell(o.sheet, o.a1); };
      head.appendChild(id);
      head.appendChild(el("span", "otext", o.text));
      var pill = el("span", "pill", o.status || tr("unscored"));
      pill.style.background = o.fill || NO_COLOUR;
      head.appendChild(pill);
      head.appendChild(el("span", "oscore", fmtScore(o.score)));
      li.appendChild(head);
      var krs = el("ul", "krs");
      o.krs.forEach(function (k) {
        var kli = el("li");
        kli.style.borderLeftColor = k.fill || NO_COLOUR;
        kli.appendChild(el("span", "kid", k.id));
        kli.appendChild(el("span", "ktext", k.text));
        kli.appendChild(el("span", "kscore", fmtScore(k.score)));
        krs.appendChild(kli);
      });
      if (o.krs.length) li.appendChild(krs);
      list.appendChild(li);
    });

    var flist = $("findings");
    flist.textContent = "";
    $("findings-box").hidden = false;
    if (!result.findings.length) flist.appendChild(el("li", "empty", tr("noFindings")));
    result.findings.forEach(function (f) {
      var li = el("li");
      li.appendChild(el("span", "sev " + f.severity, f.severity === "error" ? (lang === "zh" ? "错误" : "error") : (lang === "zh" ? "警告" : "warning")));
      if (f.sheet && f.cell && f.col) {
        var a = el("a", null, f.sheet + " › " + f.cell);
        a.href = "#";
        a.onclick = function (ev) { ev.preventDefault(); OkrClient.selectCell(f.sheet, f.cell); };
        li.appendChild(a);
      }
      li.appendChild(el("span", "msg", f.message));
      flist.appendChild(li);
    });
  }

  function run(action) {
    if (busy) return;
    busy = true;
    var buttons = document.querySelectorAll(".actions button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    setStatus(tr("working"));
    var options = { asOf: $("as-of").value || null, lang: lang };
    var job;
    if (action === "rollup") {
      job = OkrClient.refreshRollup(options).then(function (data) {
        setStatus(tr("rolled", { sheets: data.sheets.length, units: data.units, score: fmtScore(data.company_score) }), "ok");
      });
    } else {
      job = (action === "score" ? OkrClient.scoreCycle(options) : OkrClient.validate(options)).then(function (result) {
        renderResult(result);
        setStatus(tr(action === "score" ? "scored" : "validated", result.written), "ok");
      });
    }
    return job.catch(function (err) {
      setStatus(err.message || String(err), "error");
      if (err.status === 401) showTokenBox(true);
    }).then(function () {
      busy = false;
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      document.body.setAttribute("data-last-action", action);
    });
  }

  var WHO_KEY = "okrSyncName";

  function loadKeyResults() {
    setStatus(tr("working"));
    return OkrClient.listKeyResults({ lang: lang }).then(function (found) {
      var select = $("ci-kr");
      select.textContent = "";
      found.krs.forEach(function (k) {
        var opt = el("option", null, k.id + " — " + k.text + " (" + (k.current === "" ? "–" : k.current) + ")");
        opt.value = k.id;
        opt.setAttribute("data-owner", k.owner);
        select.appendChild(opt);
      });
      $("checkin-form").hidden = !found.krs.length;
      setStatus(found.krs.length ? "" : tr("noKrs"), found.krs.length ? "" : "error");
      document.body.setAttribute("data-last-action", "list");
    }).catch(function (err) { setStatus(err.message || String(err), "error"); });
  }

  function typed(text) {
    var v = String(text || "").trim();
    if (v === "") return null;
    var n = Number(v.replace(/,/g, ""));
    return isFinite(n) ? n : v;
  }

  function submitCheckIn() {
    var entry = {
      id: $("ci-kr").value, current: typed($("ci-current").value), confidence: typed($("ci-confidence").value),
      comment: $("ci-comment").value.trim() || null, who: $("ci-who").value.trim() || null,
    };
    if (entry.current === null && entry.confidence === null && !entry.comment) {
      setStatus(tr("nothingToCheckIn"), "error");
      return;
    }
    try { if (entry.who) window.localStorage.setItem(WHO_KEY, entry.who); } catch (e) { /* private mode */ }
    setStatus(tr("working"));
    return OkrClient.checkIn(entry, { lang: lang }).then(function (answer) {
      setStatus(tr("checkedIn", { id: answer.checkin.id }), "ok");
      $("ci-current").value = "";
      $("ci-confidence").value = "";
      $("ci-comment").value = "";
    }).catch(function (err) {
      setStatus(err.message || String(err), "error");
      if (err.status === 401) showTokenBox(true);
    }).then(function () { document.body.setAttribute("data-last-action", "checkin"); });
  }

  function start() {
    translate();
    if (!window.Excel || !window.Excel.run) {
      setStatus(tr("noOffice"), "error");
    }
    OkrClient.getToken().then(function (token) { showTokenBox(!token); });
    $("save-token").onclick = function () {
      var value = $("token").value.trim();
      if (!value) return;
      OkrClient.setToken(value).then(function () {
        $("token").value = "";
        showTokenBox(false);
        setStatus(tr("tokenSaved"), "ok");
      });
    };
    $("change-token").onclick = function () { showTokenBox(true); $("token").focus(); };
    $("btn-validate").onclick = function () { run("validate"); };
    $("btn-score").onclick = function () { run("score"); };
    $("btn-rollup").onclick = function () { run("rollup"); };
    $("btn-load-krs").onclick = loadKeyResults;
    $("btn-checkin").onclick = submitCheckIn;
    try { $("ci-who").value = window.localStorage.getItem(WHO_KEY) || ""; } catch (e) { /* private mode */ }
    document.body.setAttribute("data-ready", "1");
  }

  if (window.Office && window.Office.onReady) {
    window.Office.onReady(function () { lang = OkrClient.uiLanguage(); start(); });
  } else {
    start();
  }
})();
