/** Natural order, so `s2` comes before `s10`: how labels, slides and files are listed, here and on the web page. */
export const naturalCompare = new Intl.Collator('en', { numeric: true }).compare;
