// ap.attack: adversarial examples against a model.
export { pgd, fgsm, defaultSteps, type PgdOptions, type AttackModel } from './pgd.js';
