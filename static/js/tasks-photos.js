// Photos chosen for a need or its result: made smaller on the phone before sending, and shown as thumbnails.
//
// A phone's camera photo is 3-12 MB; four of them would pass the server's request limit on a slow connection and be
// refused whole. Each picture is drawn onto a canvas at most MAX_SIDE pixels wide or high and sent as a JPEG instead
// (the server re-encodes whatever comes anyway). A file the browser cannot draw (HEIC on some phones, not a picture
// at all) is sent as it is: the server then says clearly what is wrong. Without this script the form works the same,
// with the original files.

const MAX_SIDE = 2048; // domain/photos.py MAX_SIDE: the server keeps no more
const QUALITY = 0.85;

function drawn(file) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const image = new Image();
    image.onload = () => {
      URL.revokeObjectURL(url);
      try {
        const scale = Math.min(1, MAX_SIDE / Math.max(image.naturalWidth, image.naturalHeight));
        const canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
        canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
        canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
        canvas.toBlob((blob) => {
          if (!blob || blob.size >= file.size) return resolve(file);
          const name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
          resolve(new File([blob], name, { type: "image/jpeg", lastModified: file.lastModified }));
        }, "image/jpeg", QUALITY);
      } catch (error) {
        // A canvas too large for this phone's memory, or none at all: the original goes, as without this script.
        resolve(file);
      }
    };
    image.onerror = () => {
      URL.revokeObjectURL(url);
      resolve(file);
    };
    image.src = url;
  });
}

function showPreview(list, files) {
  list.replaceChildren();
  for (const file of files) {
    const item = document.createElement("li");
    if (file.type.startsWith("image/")) {
      const thumb = document.createElement("img");
      thumb.alt = file.name;
      thumb.src = URL.createObjectURL(file);
      thumb.onload = () => URL.revokeObjectURL(thumb.src);
      item.append(thumb);
    } else {
      item.textContent = file.name;
    }
    list.append(item);
  }
  list.hidden = files.length === 0;
}

async function prepare(input) {
  const form = input.form;
  const status = input.parentElement.querySelector("[data-photo-status]");
  const preview = input.closest("form").querySelector("[data-photo-preview]");
  const max = Number(input.dataset.maxPhotos || 4);
  const buttons = form ? form.querySelectorAll("button[type=submit]") : [];
  let files = Array.from(input.files);
  if (files.length > max) {
    files = files.slice(0, max);
    if (status) status.textContent = status.dataset.tooMany || `${max}`;
  }
  buttons.forEach((b) => { b.disabled = true; });
  input.setAttribute("aria-busy", "true");
  try {
    const smaller = await Promise.all(files.map(drawn));
    if (typeof DataTransfer === "function") {
      const transfer = new DataTransfer();
      smaller.forEach((file) => transfer.items.add(file));
      input.files = transfer.files;
    }
    if (preview) showPreview(preview, smaller);
    input.dataset.ready = String(smaller.length);
  } finally {
    input.removeAttribute("aria-busy");
    buttons.forEach((b) => { b.disabled = false; });
  }
}

document.querySelectorAll("input[type=file][data-photo-input]").forEach((input) => {
  input.addEventListener("change", () => { prepare(input); });
});
