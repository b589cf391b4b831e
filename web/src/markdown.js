// Markdown to safe HTML: marked renders, DOMPurify removes anything that could run script; code
// blocks get a copy button. Used for the model's answers (and the user's own messages).
import { marked } from 'marked';
import DOMPurify from 'dompurify';

marked.setOptions({ gfm: true, breaks: true });

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {  // links open elsewhere and tell the target nothing
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

export function renderMarkdown(text) {
  const html = marked.parse(text ?? '', { async: false });
  return DOMPurify.sanitize(html, { FORBID_TAGS: ['style', 'form', 'input', 'button'], FORBID_ATTR: ['style'] });
}

// Sets `target`'s content to the Markdown of `text`, with a copy button on each code block.
export function setMarkdown(target, text, onCopy) {
  target.innerHTML = renderMarkdown(text);
  for (const pre of target.querySelectorAll('pre')) {
    const b = document.createElement('button');
    b.className = 'copy-code';
    b.type = 'button';
    b.textContent = 'Copy';
    b.addEventListener('click', () => onCopy(pre.querySelector('code')?.textContent ?? pre.textContent, b));
    pre.append(b);
  }
}
