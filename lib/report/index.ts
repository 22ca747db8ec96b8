// ap.report: training plots and progress display.
export { plotLines, renderPlot, niceTicks, PALETTE, type PlotOptions, type PlotLayout, type Series } from './plot.js';
