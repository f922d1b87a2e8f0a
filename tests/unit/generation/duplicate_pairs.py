"""Real question pairs for the near-duplicate threshold: each is (stem, correct option text).

NEAR_PAIRS are the same question twice, the way a model repeats itself: reworded, a detail
changed, the vignette reordered. DISTINCT_PAIRS are different questions on one topic, many
from one template (the demo's and a weak model's habit), which must not count as repeats.
"""

from __future__ import annotations

NEAR_PAIRS: list[tuple[tuple[str, str], tuple[str, str]]] = [
    (
        (
            "A 54-year-old man presents with crushing central chest pain radiating to the left "
            "arm for 40 minutes. ECG shows ST elevation in leads II, III and aVF. Which coronary "
            "artery is most likely occluded?",
            "Right coronary artery",
        ),
        (
            "A 58-year-old man presents with crushing central chest pain radiating to his left "
            "arm for 30 minutes. The ECG shows ST elevation in leads II, III and aVF. Which "
            "coronary artery is most likely to be occluded?",
            "Right coronary artery",
        ),
    ),
    (
        (
            "A 24-year-old woman has polyuria, polydipsia and weight loss over three weeks. "
            "Her capillary glucose is 24 mmol/L and urine ketones are 3+. What is the most "
            "appropriate initial treatment?",
            "Intravenous 0.9% sodium chloride",
        ),
        (
            "A 24-year-old woman reports three weeks of polyuria, polydipsia and weight loss. "
            "Capillary glucose is 24 mmol/L and urine ketones are 3+. What is the most "
            "appropriate initial treatment?",
            "Intravenous 0.9% saline",
        ),
    ),
    (
        (
            "A 67-year-old smoker has a serum sodium of 121 mmol/L, low serum osmolality and "
            "inappropriately concentrated urine. Chest imaging shows a central lung mass. "
            "Which mechanism best explains the hyponatraemia?",
            "Ectopic secretion of antidiuretic hormone",
        ),
        (
            "A 67-year-old smoker has serum sodium 121 mmol/L with low serum osmolality and "
            "inappropriately concentrated urine; a chest radiograph shows a central lung mass. "
            "Which mechanism best explains his hyponatraemia?",
            "Ectopic antidiuretic hormone secretion",
        ),
    ),
    (
        (
            "A 7-year-old boy has periorbital oedema, frothy urine and a urine protein to "
            "creatinine ratio of 900 mg/mmol. Serum albumin is 18 g/L. What is the most likely "
            "diagnosis?",
            "Minimal change disease",
        ),
        (
            "A 6-year-old boy presents with periorbital oedema and frothy urine. His urine "
            "protein:creatinine ratio is 900 mg/mmol and serum albumin 18 g/L. What is the "
            "most likely diagnosis?",
            "Minimal change disease",
        ),
    ),
    (
        (
            "Which of the following best describes the primary site of sodium reabsorption in "
            "the nephron?",
            "Proximal convoluted tubule",
        ),
        (
            "Which of the following best describes the main site of sodium reabsorption in "
            "the nephron?",
            "The proximal convoluted tubule",
        ),
    ),
    (
        (
            "A 45-year-old woman on long-term lithium develops polyuria and nocturia. Water "
            "deprivation fails to concentrate her urine and desmopressin has no effect. What "
            "is the most likely cause?",
            "Nephrogenic diabetes insipidus",
        ),
        (
            "A 45-year-old woman taking lithium for years has polyuria and nocturia. Her urine "
            "does not concentrate after water deprivation or after desmopressin. What is the "
            "most likely cause?",
            "Nephrogenic diabetes insipidus",
        ),
    ),
    (
        (
            "A 30-year-old man has sudden severe headache during exercise, neck stiffness and "
            "photophobia. CT of the head is normal 14 hours later. What is the next step?",
            "Lumbar puncture for xanthochromia",
        ),
        (
            "A 30-year-old man develops a sudden severe headache while exercising, with neck "
            "stiffness and photophobia. A head CT 14 hours later is normal. What is the next "
            "step?",
            "Lumbar puncture looking for xanthochromia",
        ),
    ),
    (
        (
            "An arterial blood gas shows pH 7.29, PaCO2 3.9 kPa and bicarbonate 14 mmol/L with "
            "an anion gap of 24. Which of the following is the most likely cause?",
            "Diabetic ketoacidosis",
        ),
        (
            "Arterial blood gas: pH 7.29, PaCO2 3.9 kPa, bicarbonate 14 mmol/L, anion gap 24. "
            "Which of the following is the most likely cause?",
            "Diabetic ketoacidosis",
        ),
    ),
]

DISTINCT_PAIRS: list[tuple[tuple[str, str], tuple[str, str]]] = [
    (
        (
            "A 54-year-old man presents with crushing central chest pain radiating to the left "
            "arm. ECG shows ST elevation in leads II, III and aVF. Which coronary artery is "
            "most likely occluded?",
            "Right coronary artery",
        ),
        (
            "A 61-year-old woman presents with breathlessness two days after a myocardial "
            "infarction. A new pansystolic murmur is heard at the apex. What is the most "
            "likely complication?",
            "Papillary muscle rupture",
        ),
    ),
    (
        (
            "A 24-year-old woman has polyuria, polydipsia and weight loss. Capillary glucose is "
            "24 mmol/L and urine ketones are 3+. What is the most appropriate initial "
            "treatment?",
            "Intravenous 0.9% sodium chloride",
        ),
        (
            "A 24-year-old woman with type 1 diabetes has recurrent hypoglycaemia overnight "
            "and high fasting glucose. Which change to her insulin regimen is most "
            "appropriate?",
            "Reduce the evening long-acting insulin dose",
        ),
    ),
    (
        (
            "Which of the following best describes the primary site of sodium reabsorption in "
            "the nephron?",
            "Proximal convoluted tubule",
        ),
        (
            "Which of the following best describes the site of action of furosemide in the "
            "nephron?",
            "Thick ascending limb of the loop of Henle",
        ),
    ),
    (
        (
            "A 7-year-old boy has periorbital oedema, frothy urine and serum albumin of "
            "18 g/L. What is the most likely diagnosis?",
            "Minimal change disease",
        ),
        (
            "A 7-year-old boy has cola-coloured urine, hypertension and periorbital oedema "
            "two weeks after a sore throat. What is the most likely diagnosis?",
            "Post-streptococcal glomerulonephritis",
        ),
    ),
    # The demo model's template: one vignette skeleton, different archetype and details.
    (
        (
            "A 45-year-old man presents to the emergency department with a 2-day history of "
            "fever and rigors. Temperature is 38.4 °C, pulse 118/min. Applying the principles "
            "of Renal physiology, what is the most appropriate next step?",
            "Order the single investigation that best discriminates between the leading diagnoses",
        ),
        (
            "A 72-year-old woman presents to the outpatient clinic with a 3-month history of "
            "swelling of both ankles. Temperature is 36.8 °C, pulse 88/min. With reference to "
            "Renal physiology, which of the following best explains these findings?",
            "A single underlying mechanism that accounts for all of the findings together",
        ),
    ),
    (
        (
            "A 33-year-old woman presents to the surgical ward with a 5-day history of "
            "intermittent abdominal pain. In the context of Renal physiology, which finding "
            "would most strongly support the leading diagnosis?",
            "A finding specific to the leading diagnosis that the alternatives cannot produce",
        ),
        (
            "A 12-year-old girl presents to the general practice surgery with a 2-week history "
            "of a persistent dry cough. Applying the principles of Renal physiology, what is "
            "the most appropriate next step?",
            "Order the single investigation that best discriminates between the leading diagnoses",
        ),
    ),
    (
        (
            "A 67-year-old smoker has a serum sodium of 121 mmol/L and concentrated urine. "
            "Which mechanism best explains the hyponatraemia?",
            "Ectopic secretion of antidiuretic hormone",
        ),
        (
            "A 67-year-old smoker has a serum calcium of 3.4 mmol/L and a suppressed "
            "parathyroid hormone. Which mechanism best explains the hypercalcaemia?",
            "Secretion of parathyroid hormone-related peptide",
        ),
    ),
    (
        (
            "A 30-year-old man has a sudden severe headache during exercise with neck "
            "stiffness. CT of the head is normal. What is the next step?",
            "Lumbar puncture for xanthochromia",
        ),
        (
            "A 30-year-old man has a unilateral throbbing headache with nausea and flashing "
            "lights before it starts. What is the most likely diagnosis?",
            "Migraine with aura",
        ),
    ),
]
