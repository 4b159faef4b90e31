/* SkinClinic portal: small progressive enhancements. Every page works without this file; it adds the
   heatmap controls, drag and drop with early file checks, the age hint, and focus on error summaries.
   Listeners are delegated from the document so content swapped in by htmx works without re-binding. */
(function () {
  "use strict";

  // --- Heatmap overlay: show/hide and opacity ---------------------------------------------------------------
  function viewerOf(el) { return el.closest("[data-viewer]"); }

  function applyOpacity(viewer) {
    var slider = viewer.querySelector("[data-heatmap-opacity]");
    var heatmap = viewer.querySelector("[data-heatmap]");
    var toggle = viewer.querySelector("[data-heatmap-toggle]");
    var output = viewer.querySelector("[data-heatmap-opacity-value]");
    if (!heatmap) return;
    var value = slider ? Number(slider.value) : 70;
    heatmap.style.opacity = String(value / 100);
    heatmap.hidden = toggle ? !toggle.checked : false;
    if (slider) slider.disabled = toggle ? !toggle.checked : false;
    if (output) output.textContent = value + "%";
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.matches("[data-heatmap-opacity], [data-heatmap-toggle]")) applyOpacity(viewerOf(target));
  });
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-heatmap-toggle]")) applyOpacity(viewerOf(target));
    if (target.matches("[data-heatmap-class]")) showClass(viewerOf(target), target);
  });

  // The overlay shows the evidence for the class chosen; each option's value is that class's heatmap URL.
  function showClass(viewer, select) {
    var heatmap = viewer.querySelector("[data-heatmap]");
    var option = select.options[select.selectedIndex];
    if (!heatmap || !option) return;
    heatmap.src = option.value;
    heatmap.alt = "Heatmap of the areas that weighed most for " + option.getAttribute("data-class-name");
    var shown = viewer.querySelector("[data-heatmap-class-shown]");
    if (shown) shown.textContent = option.getAttribute("data-class-name");
  }

  function initViewers(root) {
    root.querySelectorAll("[data-viewer]").forEach(function (viewer) {
      var controls = viewer.querySelector("[data-heatmap-controls]");
      if (controls) controls.hidden = false;  // the controls need this script
      applyOpacity(viewer);
    });
  }

  // --- Upload: drag and drop, early checks, age hint, new-lesion fields ---------------------------------------
  function formatSize(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1) + " MB";
    return Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function listFiles(zone) {
    var input = zone.querySelector("input[type=file]");
    var list = document.getElementById(zone.getAttribute("data-file-list"));
    if (!input || !list) return;
    var max = Number(zone.getAttribute("data-max-bytes"));
    var accepted = (input.getAttribute("accept") || "").split(",").filter(function (s) { return s.charAt(0) === "."; });
    list.innerHTML = "";
    Array.prototype.forEach.call(input.files, function (file) {
      var li = document.createElement("li");
      var problem = "";
      var name = file.name.toLowerCase();
      if (accepted.length && !accepted.some(function (ext) { return name.endsWith(ext); })) {
        problem = "not a JPEG, PNG, TIFF or WebP file";
      } else if (max && file.size > max) {
        problem = "larger than the " + formatSize(max) + " limit";
      }
      var label = document.createElement("span");
      label.textContent = file.name + (problem ? " — " + problem : "");
      var size = document.createElement("span");
      size.textContent = formatSize(file.size);
      li.appendChild(label);
      li.appendChild(size);
      if (problem) li.className = "is-bad";
      list.appendChild(li);
    });
  }

  function initDropzones(root) {
    root.querySelectorAll("[data-dropzone]").forEach(function (zone) {
      var input = zone.querySelector("input[type=file]");
      if (!input || zone.dataset.ready) return;
      zone.dataset.ready = "1";
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (event) {
          event.preventDefault();
          zone.classList.add("is-over");
        });
      });
      ["dragleave", "dragend"].forEach(function (name) {
        zone.addEventListener(name, function () { zone.classList.remove("is-over"); });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        zone.classList.remove("is-over");
        if (event.dataTransfer && event.dataTransfer.files.length) {
          input.files = event.dataTransfer.files;
          listFiles(zone);
        }
      });
      input.addEventListener("change", function () { listFiles(zone); });
    });
  }

  function ageOn(dob, day) {
    var age = day.getUTCFullYear() - dob.getUTCFullYear();
    var before = day.getUTCMonth() < dob.getUTCMonth() ||
      (day.getUTCMonth() === dob.getUTCMonth() && day.getUTCDate() < dob.getUTCDate());
    return before ? age - 1 : age;
  }

  function updateAgeHint(form) {
    var hint = form.querySelector("[data-age-hint]");
    var captured = form.querySelector("input[name=captured_at]");
    var dob = form.getAttribute("data-date-of-birth");
    if (!hint || !captured) return;
    if (!dob) { hint.textContent = "No date of birth is recorded, so the age stays empty unless you enter it."; return; }
    if (!captured.value) { hint.textContent = "Enter the capture date to work out the age."; return; }
    var age = ageOn(new Date(dob + "T00:00:00Z"), new Date(captured.value + "T00:00:00Z"));
    hint.textContent = age >= 0 ? "From the date of birth: " + age + " years on the capture date." : "";
  }

  function updateNewLesion(form) {
    var group = form.querySelector("[data-new-lesion]");
    if (!group) return;
    var chosen = form.querySelector("input[name=lesion]:checked");
    group.hidden = !(chosen && chosen.value === group.getAttribute("data-new-lesion"));
  }

  function initUploadForms(root) {
    root.querySelectorAll("form[data-upload-form]").forEach(function (form) {
      if (form.dataset.ready) return;  // htmx:load also runs this for the whole page at start
      form.dataset.ready = "1";
      updateAgeHint(form);
      updateNewLesion(form);
      form.addEventListener("change", function (event) {
        if (event.target.name === "captured_at") updateAgeHint(form);
        if (event.target.name === "lesion") updateNewLesion(form);
      });
      form.addEventListener("input", function (event) {
        if (event.target.name === "captured_at") updateAgeHint(form);
      });
      form.addEventListener("submit", function (event) {
        if (form.dataset.submitting) { event.preventDefault(); return; }  // one upload per click
        form.dataset.submitting = "1";
        var button = form.querySelector("[data-busy-label]");
        if (button) {
          button.setAttribute("aria-disabled", "true");
          button.textContent = button.getAttribute("data-busy-label");
        }
      });
    });
  }

  function focusErrorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) summary.focus();
  }

  // --- Zoom and pan (Panzoom, vendored): the photograph with its heatmap; a comparison's photographs in step --
  function placeHeatmap(heatmap) {
    // The heatmap covers the largest centred crop of the photograph with the heatmap's own shape (the model's input).
    var viewer = heatmap.closest("[data-zoom-content]");
    var image = viewer && viewer.querySelector(".viewer__image");
    if (!image || !heatmap.naturalWidth || !heatmap.naturalHeight) return;
    var width = Number(image.dataset.imageWidth) || image.naturalWidth;
    var height = Number(image.dataset.imageHeight) || image.naturalHeight;
    if (!width || !height) return;
    var aspect = heatmap.naturalWidth / heatmap.naturalHeight;
    var cropWidth = Math.min(width, height * aspect), cropHeight = Math.min(height, width / aspect);
    heatmap.style.left = ((width - cropWidth) / 2 / width * 100) + "%";
    heatmap.style.top = ((height - cropHeight) / 2 / height * 100) + "%";
    heatmap.style.width = (cropWidth / width * 100) + "%";
    heatmap.style.height = (cropHeight / height * 100) + "%";
  }
  document.addEventListener("load", function (event) {
    if (event.target.matches && event.target.matches("img[data-heatmap]")) placeHeatmap(event.target);
  }, true);

  function stagesOf(controls) {
    var sync = controls.parentElement.querySelector("[data-zoom-sync]");
    var scope = sync || controls.closest("[data-viewer]");
    return scope ? Array.prototype.slice.call(scope.querySelectorAll("[data-zoom-stage]")) : [];
  }

  function syncFrom(stage, detail) {
    var group = stage.closest("[data-zoom-sync]");
    if (!group) return;
    group.querySelectorAll("[data-zoom-stage]").forEach(function (other) {
      if (other === stage || !other.panzoom) return;
      var ratio = other.clientWidth / (stage.clientWidth || 1);
      other.panzoom.zoom(detail.scale, {animate: false, silent: true});
      other.panzoom.pan(detail.x * ratio, detail.y * ratio, {animate: false, silent: true, force: true});
    });
  }

  function initZoom(root) {
    if (typeof window.Panzoom !== "function") return;  // without the library the photographs stay still
    root.querySelectorAll("[data-zoom-stage]").forEach(function (stage) {
      if (stage.panzoom) return;
      var content = stage.querySelector("[data-zoom-content]");
      stage.panzoom = window.Panzoom(content, {minScale: 1, maxScale: 10, step: 0.4, contain: "outside"});
      stage.setAttribute("data-zoomable", "");
      stage.addEventListener("wheel", function (event) { stage.panzoom.zoomWithWheel(event); });
      content.addEventListener("panzoomchange", function (event) { syncFrom(stage, event.detail); });
    });
    root.querySelectorAll("[data-zoom-controls]").forEach(function (controls) { controls.hidden = false; });
    root.querySelectorAll("img[data-heatmap]").forEach(function (heatmap) {
      if (heatmap.complete) placeHeatmap(heatmap);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-zoom-in], [data-zoom-out], [data-zoom-reset]");
    var controls = button && button.closest("[data-zoom-controls]");
    if (!controls) return;
    var stages = stagesOf(controls).filter(function (stage) { return stage.panzoom; });
    if (button.hasAttribute("data-zoom-reset")) {
      stages.forEach(function (stage) { stage.panzoom.reset({animate: false}); });
    } else if (stages.length) {  // the first of a comparison; its change event moves the other in step
      if (button.hasAttribute("data-zoom-in")) stages[0].panzoom.zoomIn({animate: false});
      else stages[0].panzoom.zoomOut({animate: false});
    }
  });

  // --- Tables on a phone: each cell labelled by its column (the stylesheet shows the label when rows stack) ---
  function labelTableCells(root) {
    root.querySelectorAll("table.data").forEach(function (table) {
      var headers = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      table.querySelectorAll("tbody tr").forEach(function (row) {
        Array.prototype.forEach.call(row.children, function (cell, index) {
          if (headers[index] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", headers[index]);
        });
      });
    });
  }

  // --- Body map: a click on the outline places the lesion (view, x, y) and suggests the patient's side -------
  function bodyMapForm(el) { return el.closest("[data-lesion-form]"); }

  function bodyMapInputs(form) {
    return {view: form.querySelector("[name=body_view]"), x: form.querySelector("[name=body_x]"),
            y: form.querySelector("[name=body_y]"), side: form.querySelector("[name=laterality]"),
            svg: form.querySelector("[data-body-map-canvas]"), marker: form.querySelector("[data-body-map-marker]"),
            clear: form.querySelector("[data-body-map-clear]")};
  }

  function showBodyMapPoint(form) {
    var f = bodyMapInputs(form);
    if (!f.svg || !f.marker) return;
    var d = f.svg.dataset;
    var x = parseFloat(f.x.value), y = parseFloat(f.y.value);
    var placed = (f.view.value === "front" || f.view.value === "back") && !isNaN(x) && !isNaN(y);
    var left = Number(f.view.value === "back" ? d.backLeft : d.frontLeft);
    f.marker.setAttribute("cx", placed ? String(left + x * Number(d.figureWidth)) : "-20");
    f.marker.setAttribute("cy", placed ? String(Number(d.top) + y * Number(d.figureHeight)) : "-20");
    if (f.clear) f.clear.hidden = !placed;
  }

  document.addEventListener("click", function (event) {
    var svg = event.target.closest && event.target.closest("[data-body-map-canvas]");
    var form = svg && bodyMapForm(svg);
    if (form) {
      var f = bodyMapInputs(form), d = svg.dataset;
      var point = svg.createSVGPoint();
      point.x = event.clientX; point.y = event.clientY;
      var at = point.matrixTransform(svg.getScreenCTM().inverse());
      var width = Number(d.figureWidth), height = Number(d.figureHeight);
      var view = at.x >= Number(d.backLeft) - 7 ? "back" : "front";
      var left = Number(view === "back" ? d.backLeft : d.frontLeft);
      var x = Math.min(1, Math.max(0, (at.x - left) / width));
      var y = Math.min(1, Math.max(0, (at.y - Number(d.top)) / height));
      f.view.value = view; f.x.value = x.toFixed(3); f.y.value = y.toFixed(3);
      // The patient's right is on the viewer's left from the front, on the viewer's right from the back.
      if (f.side) {
        var viewerLeft = x < 0.47, viewerRight = x > 0.53;
        f.side.value = viewerLeft ? (view === "front" ? "right" : "left")
          : viewerRight ? (view === "front" ? "left" : "right") : "midline";
      }
      showBodyMapPoint(form);
      return;
    }
    var clear = event.target.closest && event.target.closest("[data-body-map-clear]");
    if (clear && bodyMapForm(clear)) {
      var g = bodyMapInputs(bodyMapForm(clear));
      g.view.value = ""; g.x.value = ""; g.y.value = "";
      showBodyMapPoint(bodyMapForm(clear));
    }
  });
  document.addEventListener("input", function (event) {
    var form = event.target.matches("[name=body_view], [name=body_x], [name=body_y]") && bodyMapForm(event.target);
    if (form) showBodyMapPoint(form);
  });

  function initBodyMaps(root) {
    root.querySelectorAll("[data-lesion-form]").forEach(showBodyMapPoint);
  }

  function init(root) {
    labelTableCells(root);
    initZoom(root);
    initBodyMaps(root);
    initViewers(root);
    initDropzones(root);
    initUploadForms(root);
  }

  // Coming back to a page from the browser's cache: let its forms be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitting]").forEach(function (form) { delete form.dataset.submitting; });
  });

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    focusErrorSummary();
  });
  // Content that htmx swaps in (a finished result) gets the same enhancements.
  document.addEventListener("htmx:load", function (event) { init(event.target); });

  // An upload's "the model is looking at it now" speaks of a result still to come: once the polled result
  // panel arrives finished, the message goes (the server leaves it out of a page that is already finished).
  document.addEventListener("htmx:afterSettle", function () {
    var result = document.getElementById("prediction-result");
    var status = result && result.getAttribute("data-status");
    if (status !== "succeeded" && status !== "failed") return;
    document.querySelectorAll("[data-until-result]").forEach(function (message) {
      var list = message.parentNode;
      message.remove();
      if (list && !list.querySelector("li")) list.remove();
    });
  });
})();
