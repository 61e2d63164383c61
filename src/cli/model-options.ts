/** The model options' usage text, the same in every command (what they mean: api/models.ts). */
import { TISSUE_MODEL_PATH } from '../model/checkpoint.js';

export const MODEL_USAGE = `  --weights FILE    model checkpoint (default: the built-in model, trained to tell slides apart); to
                    search by tissue class across slides, the built-in tissue-class model:
                    ${TISSUE_MODEL_PATH}
  --backbone FILE   replace the backbone with a timm convnextv2_* model.safetensors (same preset),
                    or the name of weights fetched with 'histoseek weights pull'
  --size S          resize images to S×S, a multiple of 32 (default: the model's; 128 for the built-in ones)
`;
