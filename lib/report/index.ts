// ap.report: training plots and progress display.
export { plotLines, renderPlot, niceTicks, PALETTE, type PlotOptions, type PlotLayout, type Series } from './plot.js';
export { Progress, formatDuration, formatRate, formatField, type ProgressOptions, type ProgressStream, type Fields } from './progress.js';
