"""The demo model's vocabulary: parts of a question, combined by question number.

Each list's length is coprime with the others' (23, 7, 11, 13, 17, 19, 10, 9), so two
questions of one batch share few parts and the quality gate sees no near-duplicates, as it
would not from a model that writes well.
"""

from __future__ import annotations

AGES = tuple(range(19, 88, 3))  # 23
PATIENTS = ("man", "woman", "retired teacher", "farmer", "student", "nurse", "bus driver")
SETTINGS = (
    "emergency department",
    "general practice surgery",
    "medical admissions unit",
    "outpatient clinic",
    "surgical ward",
    "intensive care unit",
    "antenatal clinic",
    "community hospital",
    "sports medicine clinic",
    "occupational health service",
    "rural health centre",
)
COMPLAINTS = (
    "progressive shortness of breath on exertion",
    "intermittent colicky abdominal pain after meals",
    "fatigue and unintentional weight loss",
    "new-onset confusion noticed by the family",
    "swelling of both ankles by evening",
    "palpitations and light-headedness on standing",
    "fever, rigors and loin pain",
    "a persistent dry cough at night",
    "painless jaundice and dark urine",
    "episodes of vertigo lasting hours",
    "morning stiffness of the small joints of the hands",
    "recurrent nosebleeds and easy bruising",
    "excessive thirst and large volumes of urine",
)
EXAMINATION = (
    "Pulse is 112/min and blood pressure 94/58 mmHg.",
    "A soft systolic murmur is heard at the apex.",
    "There is pitting oedema to the knees.",
    "Fine bibasal crackles are heard.",
    "The liver edge is palpable four centimetres below the costal margin.",
    "There is a fine tremor of the outstretched hands.",
    "Capillary refill takes four seconds.",
    "There is conjunctival pallor with koilonychia.",
    "A maculopapular rash covers the trunk.",
    "Fundoscopy shows flame haemorrhages.",
    "There is tenderness over the left renal angle.",
    "Ankle reflexes are absent.",
    "The thyroid gland is diffusely enlarged.",
    "A pericardial rub is heard at the left sternal edge.",
    "Splinter haemorrhages are seen in several nails.",
    "Jugular venous pressure is raised to the earlobes.",
    "The abdomen is distended with shifting dullness.",
)
RESULTS = (
    "Serum sodium is 128 mmol/L and potassium 5.9 mmol/L.",
    "Chest radiograph shows bilateral hilar lymphadenopathy.",
    "Haemoglobin is 86 g/L with a raised reticulocyte count.",
    "Urinalysis shows protein 3+ and red cell casts.",
    "Arterial gas shows pH 7.28 and bicarbonate 15 mmol/L.",
    "An ECG shows a prolonged QT interval and U waves.",
    "Ultrasound shows a dilated common bile duct.",
    "Fasting glucose is 11.4 mmol/L on two occasions.",
    "Thyroid-stimulating hormone is undetectable.",
    "Creatinine has risen from 80 to 190 micromol/L in a week.",
    "Peak expiratory flow is 55% of predicted.",
    "Cerebrospinal fluid shows raised protein with normal cells.",
    "Ferritin is 9 micrograms/L.",
    "Calcium is 2.95 mmol/L with a suppressed parathyroid hormone.",
    "Platelets are 42 x 10^9/L on a repeat sample.",
    "Serum albumin is 19 g/L and cholesterol 9.1 mmol/L.",
    "Plasma osmolality is 262 mOsm/kg with urine osmolality 540.",
    "Troponin is raised and rising on a repeat sample.",
    "Blood cultures grow Gram-negative rods.",
)
LEAD_INS = (
    "Applying the principles of {topic}, which of the following best explains these findings?",
    "In the light of {topic}, what is the most appropriate next step in management?",
    "Which mechanism of {topic} most likely accounts for this presentation?",
    "Which investigation would most directly confirm the diagnosis, given {topic}?",
    "With reference to {topic}, which complication is this patient at greatest risk of?",
    "Which drug would be the safest initial choice here, in the light of {topic}?",
    "Which single abnormality best predicts the outcome, according to {topic}?",
    "Where is the primary lesion most likely to be, given {topic}?",
    "Which compensatory change would you expect next, according to {topic}?",
    "Which treatment should be avoided in this patient, given {topic}?",
)
ANSWERS = (
    "Reduced renal perfusion activating the renin-angiotensin system",
    "Inappropriate secretion of antidiuretic hormone",
    "Autoimmune destruction of pancreatic beta cells",
    "Obstruction of the distal common bile duct",
    "Granulomatous inflammation of the hilar lymph nodes",
    "Loss of podocyte foot processes in the glomerulus",
    "An increased anion gap metabolic acidosis",
    "Hypokalaemia prolonging ventricular repolarisation",
    "Excess thyroid hormone from a toxic nodule",
)
DISTRACTORS = (
    "Primary hyperaldosteronism",
    "Dehydration from poor oral intake",
    "A laboratory artefact from a haemolysed sample",
    "Normal variation for the patient's age",
    "An adverse effect of a recently started statin",
    "A viral infection of the upper airway",
    "Vitamin B12 deficiency",
    "Anxiety with hyperventilation",
)
