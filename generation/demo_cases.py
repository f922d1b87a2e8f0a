"""The demo model's case bank: short, accurate teaching cases across the basic and clinical
sciences, each askable one or two ways.

A case is a patient (or an experiment) and the findings that point to one answer; an `Ask` is
one question about it: what kind of answer it wants (a diagnosis, a drug, a mechanism, a
management step, an investigation, an organism, an enzyme), its lead-in, its key and
distractors of the same kind. The lead-in therefore always matches the options. `close`
distractors are the ones a hard question uses (they differ from the key by one step of
reasoning); `far` ones make an easy question easier.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = (
    "diagnosis",
    "drug",
    "mechanism",
    "management",
    "investigation",
    "organism",
    "enzyme",
    "anatomy",
)


@dataclass(frozen=True)
class Ask:
    kind: str
    focus: str
    lead_in: str
    key: str
    close: tuple[str, ...]  # four distractors one reasoning step from the key
    far: tuple[str, ...]  # two or more clearly wrong ones, same kind
    why: str


@dataclass(frozen=True)
class Case:
    discipline: str
    tags: tuple[str, ...]  # words a topic may use for it
    scenario: str  # how the plan describes it (never written into the stem)
    ages: tuple[int, int]
    sexes: tuple[str, ...]  # "m", "f"
    setting: str
    opening: str  # "{person} presents to the {setting} with …" ({person} = "A 54-year-old man")
    clue: str  # the finding that gives it away (easy, medium)
    subtle: str  # the finding a hard question reasons from instead
    data: str  # a result (medium, hard, and the analyse/evaluate levels)
    confounder: str  # a finding that tempts toward a close distractor (hard)
    asks: tuple[Ask, ...]


CASES: tuple[Case, ...] = (
    # --- pharmacology -------------------------------------------------------------------
    Case(
        "pharmacology",
        ("pharmacology", "pharmacokinetics", "drug", "interaction", "cardiology", "toxicity"),
        "older adult on an antiarrhythmic who starts a new antibiotic",
        (62, 84),
        ("m", "f"),
        "medical admissions unit",
        "{person} with atrial fibrillation, treated with digoxin for years, presents to the "
        "{setting} with nausea and blurred, yellow-tinged vision, a week after starting "
        "clarithromycin for a chest infection.",
        "The ECG shows frequent ventricular ectopics and down-sloping ST segments.",
        "Renal function is unchanged from last year.",
        "Serum potassium is 5.6 mmol/L.",
        "The family say the patient has also been taking an over-the-counter antacid.",
        (
            Ask(
                "mechanism",
                "the mechanism of a drug interaction raising digoxin levels",
                "Which mechanism best explains the rise in the plasma digoxin concentration?",
                "Inhibition of P-glycoprotein efflux",
                (
                    "Induction of hepatic CYP3A4 metabolism",
                    "Displacement of digoxin from plasma albumin",
                    "Reduced glomerular filtration from dehydration",
                    "Inhibition of hepatic CYP2C9 metabolism",
                ),
                ("Increased absorption from a lower gastric pH", "Enterohepatic recycling"),
                "clarithromycin inhibits P-glycoprotein, which normally pumps digoxin into the "
                "gut lumen and the renal tubule; less is excreted, so the level rises",
            ),
            Ask(
                "drug",
                "the antidote for cardiac glycoside toxicity",
                "Which drug is the most appropriate specific treatment?",
                "Digoxin-specific antibody fragments",
                ("Intravenous potassium chloride infusion", "Amiodarone", "Flumazenil", "Glucagon"),
                ("Naloxone", "Protamine sulfate"),
                "digoxin-specific Fab fragments bind the drug and reverse life-threatening "
                "toxicity; calcium is avoided, and glucagon is for beta-blocker overdose",
            ),
        ),
    ),
    Case(
        "pharmacology",
        ("pharmacology", "pharmacokinetics", "anticoagulation", "haematology", "interaction"),
        "anticoagulated patient whose INR rises after a course of antibiotics",
        (58, 80),
        ("m", "f"),
        "anticoagulation clinic",
        "{person} on long-term warfarin for a mechanical mitral valve attends the {setting} "
        "with bruising, five days after starting a course of co-trimoxazole.",
        "The INR is 7.8, up from a stable 3.0.",
        "The INR was stable at 3.0 for the past year.",
        "Liver enzymes are normal and the dose of warfarin has not changed.",
        "The patient drinks two glasses of wine a week.",
        (
            Ask(
                "mechanism",
                "the mechanism of a warfarin interaction",
                "Which mechanism most likely explains the raised INR?",
                "Inhibition of CYP2C9 metabolism of S-warfarin",
                (
                    "Induction of CYP2C9 metabolism of S-warfarin",
                    "Increased synthesis of vitamin K-dependent factors",
                    "Reduced oral absorption of warfarin",
                    "Increased renal excretion of warfarin",
                ),
                ("Direct inhibition of thrombin", "Inhibition of platelet cyclooxygenase"),
                "sulfamethoxazole inhibits CYP2C9, which clears the more potent S-enantiomer of "
                "warfarin, so its effect rises",
            ),
        ),
    ),
    Case(
        "pharmacology",
        ("pharmacology", "pharmacokinetics", "elimination", "clearance", "half-life", "renal"),
        "first-order elimination in a patient with reduced renal clearance",
        (66, 85),
        ("m", "f"),
        "renal ward",
        "{person} with chronic kidney disease is started on gentamicin in the {setting} for "
        "a Gram-negative bacteraemia.",
        "Creatinine clearance is 30 mL/min, a third of normal.",
        "The drug is eliminated unchanged by glomerular filtration.",
        "The trough level before the second dose is above the target range.",
        "The volume of distribution is unchanged.",
        (
            Ask(
                "management",
                "adjusting dosing to reduced renal clearance",
                "What is the most appropriate adjustment to the regimen?",
                "Keep the dose and lengthen the dosing interval",
                (
                    "Keep the interval and double the dose",
                    "Give a larger loading dose and keep the interval",
                    "Switch to continuous infusion at the same daily dose",
                    "Shorten the dosing interval and reduce the dose",
                ),
                ("Stop monitoring drug levels", "Add a second aminoglycoside"),
                "with clearance a third of normal the half-life is about three times longer, so "
                "the same peak is kept and the interval extended until the trough falls",
            ),
        ),
    ),
    Case(
        "pharmacology",
        ("pharmacology", "autonomic", "toxicology", "poisoning", "emergency"),
        "farm worker exposed to an insecticide",
        (24, 60),
        ("m",),
        "emergency department",
        "{person} is brought to the {setting} after spraying crops, with vomiting, "
        "drooling, wheeze and diarrhoea.",
        "The pupils are pinpoint and there are fasciculations in the limbs.",
        "Pulse is 44/min.",
        "Plasma cholinesterase activity is 15% of normal.",
        "He smells of solvent.",
        (
            Ask(
                "drug",
                "the first drug for organophosphate poisoning",
                "Which drug should be given first?",
                "Atropine",
                ("Pralidoxime", "Physostigmine", "Diazepam", "Adrenaline"),
                ("Naloxone", "N-acetylcysteine"),
                "atropine blocks muscarinic receptors and dries the airway secretions that kill; "
                "pralidoxime is added to reactivate the enzyme",
            ),
            Ask(
                "enzyme",
                "the enzyme an organophosphate inhibits",
                "Inhibition of which enzyme causes these findings?",
                "Acetylcholinesterase",
                (
                    "Choline acetyltransferase",
                    "Monoamine oxidase",
                    "Catechol-O-methyltransferase",
                    "Tyrosine hydroxylase",
                ),
                ("Carbonic anhydrase", "Xanthine oxidase"),
                "organophosphates phosphorylate acetylcholinesterase, so acetylcholine "
                "accumulates at muscarinic and nicotinic synapses",
            ),
        ),
    ),
    Case(
        "pharmacology",
        ("pharmacology", "diuretic", "renal", "electrolytes", "cardiology"),
        "patient on a loop diuretic who develops muscle cramps",
        (55, 82),
        ("m", "f"),
        "heart failure clinic",
        "{person} with heart failure, whose furosemide dose was doubled a month ago, attends "
        "the {setting} with muscle cramps and weakness.",
        "Serum potassium is 2.9 mmol/L.",
        "The ankles are no longer swollen.",
        "Serum bicarbonate is 32 mmol/L.",
        "The patient also takes a low-dose ACE inhibitor.",
        (
            Ask(
                "mechanism",
                "the site of action of loop diuretics",
                "Inhibition of which transporter best explains these findings?",
                "The Na-K-2Cl cotransporter of the thick ascending limb",
                (
                    "The Na-Cl cotransporter of the distal convoluted tubule",
                    "The epithelial sodium channel of the collecting duct",
                    "Carbonic anhydrase of the proximal tubule",
                    "The mineralocorticoid receptor of the collecting duct",
                ),
                ("The sodium-glucose cotransporter of the proximal tubule", "Aquaporin-2"),
                "furosemide blocks NKCC2; more sodium reaches the collecting duct, where it is "
                "exchanged for potassium and hydrogen ions",
            ),
            Ask(
                "drug",
                "a potassium-sparing addition to diuretic therapy",
                "Which drug would best correct this problem while treating the heart failure?",
                "Spironolactone",
                ("Bendroflumethiazide", "Acetazolamide", "Indapamide", "Metolazone"),
                ("Mannitol", "Bumetanide"),
                "spironolactone blocks aldosterone in the collecting duct, sparing potassium, and "
                "improves survival in heart failure with reduced ejection fraction",
            ),
        ),
    ),
    Case(
        "pharmacology",
        ("pharmacology", "analgesia", "toxicology", "hepatology", "poisoning", "liver"),
        "teenager after a deliberate overdose of a common analgesic",
        (16, 24),
        ("f", "m"),
        "emergency department",
        "{person} is brought to the {setting} four hours after taking 40 tablets of "
        "paracetamol, and feels well apart from nausea.",
        "The paracetamol level is well above the treatment line.",
        "Liver tests are still normal.",
        "The four-hour plasma level is 220 mg/L.",
        "The patient also drank half a bottle of vodka.",
        (
            Ask(
                "drug",
                "the antidote for paracetamol overdose",
                "Which drug is the most appropriate treatment?",
                "Acetylcysteine",
                ("Activated charcoal", "Methionine", "Fomepizole", "Flumazenil"),
                ("Naloxone", "Vitamin K"),
                "acetylcysteine replenishes glutathione, which conjugates the toxic metabolite "
                "NAPQI; it is most effective within eight hours",
            ),
            Ask(
                "mechanism",
                "how paracetamol injures the liver",
                "Which mechanism underlies the liver injury this overdose can cause?",
                "Accumulation of NAPQI once glutathione is depleted",
                (
                    "Saturation of glucuronidation producing a toxic glucuronide",
                    "Immune-mediated hepatitis against a drug-protein adduct",
                    "Mitochondrial inhibition of beta-oxidation by the parent drug",
                    "Cholestasis from inhibition of the bile salt export pump",
                ),
                ("Portal vein thrombosis", "Ischaemia from hypotension"),
                "when glucuronidation and sulfation saturate, more is oxidised by CYP2E1 to "
                "NAPQI, which binds hepatocyte proteins once glutathione runs out",
            ),
        ),
    ),
    Case(
        "pharmacology",
        ("pharmacology", "endocrinology", "diabetes", "adverse effects"),
        "patient with type 2 diabetes on a new tablet who develops genital infections",
        (45, 70),
        ("m", "f"),
        "diabetes clinic",
        "{person} with type 2 diabetes attends the {setting} with recurrent genital thrush "
        "since a second glucose-lowering tablet was added to metformin.",
        "Urine dipstick shows glucose 4+ with a blood glucose of 7 mmol/L.",
        "Weight has fallen by 3 kg and blood pressure by 6 mmHg.",
        "HbA1c has fallen from 69 to 58 mmol/mol.",
        "There was one episode of dizziness on standing.",
        (
            Ask(
                "drug",
                "recognising the adverse effects of SGLT2 inhibitors",
                "Which drug was most likely added?",
                "Dapagliflozin",
                ("Sitagliptin", "Pioglitazone", "Glibenclamide", "Liraglutide"),
                ("Insulin glargine", "Acarbose"),
                "SGLT2 inhibitors block glucose reabsorption in the proximal tubule, so glucose "
                "appears in the urine at normal plasma levels and feeds genital candida",
            ),
        ),
    ),
    Case(
        "pharmacology",
        ("pharmacology", "respiratory", "asthma", "autonomic"),
        "child with asthma whose reliever causes a fast heart rate",
        (7, 14),
        ("m", "f"),
        "paediatric clinic",
        "{person} with asthma is seen in the {setting} because the inhaler used during "
        "attacks makes the hands shake and the heart race.",
        "The inhaler relieves wheeze within minutes.",
        "The tremor starts minutes after the inhaler and fades within two hours.",
        "Serum potassium after a nebulised dose was 3.3 mmol/L.",
        "The child also drinks several cans of cola a day.",
        (
            Ask(
                "mechanism",
                "the receptor basis of beta-agonist adverse effects",
                "Stimulation of which receptors best explains the tremor?",
                "Beta-2 adrenoceptors on skeletal muscle",
                (
                    "Beta-1 adrenoceptors on skeletal muscle",
                    "Alpha-1 adrenoceptors on skeletal muscle",
                    "Muscarinic M3 receptors on skeletal muscle",
                    "Nicotinic receptors at the neuromuscular junction",
                ),
                ("Histamine H1 receptors", "Dopamine D2 receptors"),
                "salbutamol acts on beta-2 receptors; those on skeletal muscle cause tremor and "
                "drive potassium into cells, while the tachycardia is partly reflex",
            ),
        ),
    ),
    # --- physiology ---------------------------------------------------------------------
    Case(
        "physiology",
        ("physiology", "renal", "kidney", "acid-base", "respiratory"),
        "climber at altitude with a rising urine pH",
        (22, 45),
        ("m", "f"),
        "base camp medical tent",
        "{person} climbing at 5,000 m is seen in the {setting} after three days at altitude, "
        "breathing fast but feeling well.",
        "Arterial PCO2 is 3.2 kPa and the urine is alkaline.",
        "The pH on day three is nearer normal than on arrival.",
        "Arterial pH is 7.46 with bicarbonate 18 mmol/L.",
        "The climber has taken no medicines.",
        (
            Ask(
                "mechanism",
                "renal compensation for respiratory alkalosis",
                "Which change explains the return of the pH towards normal?",
                "Reduced bicarbonate reabsorption by the renal tubules",
                (
                    "Increased bicarbonate reabsorption by the renal tubules",
                    "Increased ammonium excretion by the collecting duct",
                    "Reduced ventilation by the peripheral chemoreceptors",
                    "Increased lactate production by hypoxic muscle",
                ),
                ("Increased gastric acid secretion", "Reduced hepatic urea synthesis"),
                "hyperventilation lowers PCO2; over days the kidney excretes bicarbonate, "
                "bringing the pH back towards normal",
            ),
        ),
    ),
    Case(
        "physiology",
        ("physiology", "renal", "kidney", "clearance", "glomerular filtration"),
        "volunteer in a renal clearance study",
        (20, 30),
        ("m", "f"),
        "physiology laboratory",
        "{person} volunteers for a study in the {setting}: a substance is infused to a steady "
        "plasma concentration of 1 mg/mL, and urine is collected.",
        "Urine flow is 1 mL/min and its concentration 125 mg/mL.",
        "The substance is freely filtered and neither reabsorbed nor secreted.",
        "The measured clearance is 125 mL/min.",
        "Para-aminohippurate given at the same time has a clearance of 625 mL/min.",
        (
            Ask(
                "mechanism",
                "what the clearance of a filtered marker measures",
                "What does the clearance of this substance measure?",
                "The glomerular filtration rate",
                (
                    "The effective renal plasma flow",
                    "The renal blood flow",
                    "The filtration fraction",
                    "The free water clearance",
                ),
                ("The cardiac output", "The tubular maximum for glucose"),
                "a substance filtered and neither reabsorbed nor secreted, like inulin, is cleared "
                "at exactly the rate plasma is filtered: UV/P = 125 x 1 / 1 = 125 mL/min",
            ),
        ),
    ),
    Case(
        "physiology",
        ("physiology", "cardiovascular", "cardiac", "haemodynamics", "heart"),
        "healthy volunteer performing a Valsalva manoeuvre",
        (20, 35),
        ("m", "f"),
        "cardiovascular physiology practical",
        "{person} performs a Valsalva manoeuvre in a {setting} while blood pressure is "
        "recorded beat by beat.",
        "During the strain, pulse pressure narrows and the heart rate rises.",
        "Intrathoracic pressure is held at 40 mmHg for 15 seconds.",
        "On release, systolic pressure overshoots to 20 mmHg above baseline.",
        "The volunteer had a cup of coffee before the test.",
        (
            Ask(
                "mechanism",
                "baroreflex control during raised intrathoracic pressure",
                "Which mechanism best explains the rise in heart rate during the strain?",
                "Reduced baroreceptor firing from a fall in venous return",
                (
                    "Increased baroreceptor firing from a rise in arterial pressure",
                    "Stimulation of atrial stretch receptors by raised venous pressure",
                    "Direct compression of the sinoatrial node",
                    "Activation of peripheral chemoreceptors by hypoxia",
                ),
                ("Release of thyroid hormone", "Reduced circulating angiotensin II"),
                "the raised intrathoracic pressure cuts venous return and stroke volume; the "
                "carotid baroreceptors fire less, so vagal tone falls and sympathetic drive rises",
            ),
        ),
    ),
    Case(
        "physiology",
        ("physiology", "cardiovascular", "cardiac", "exercise", "heart"),
        "athlete's stroke volume during exercise",
        (19, 30),
        ("m", "f"),
        "sports science laboratory",
        "{person}, a rower, exercises on a cycle ergometer in the {setting} while "
        "echocardiography measures the ventricles.",
        "End-diastolic volume rises and end-systolic volume falls.",
        "Heart rate rises from 55 to 150/min.",
        "Ejection fraction rises from 60% to 80%.",
        "Mean arterial pressure rises only slightly.",
        (
            Ask(
                "mechanism",
                "what raises stroke volume in exercise",
                "Which change best explains the fall in end-systolic volume?",
                "Increased contractility from sympathetic stimulation",
                (
                    "Increased preload from greater venous return",
                    "Increased afterload from a rise in arterial pressure",
                    "Prolonged diastolic filling time",
                    "Reduced coronary perfusion",
                ),
                ("Increased plasma oncotic pressure", "Reduced vagal tone to the lungs"),
                "noradrenaline on beta-1 receptors raises contractility, so the ventricle empties "
                "more completely; the larger preload raises end-diastolic volume, not the ESV",
            ),
        ),
    ),
    Case(
        "physiology",
        ("physiology", "respiratory", "lung", "ventilation", "gas exchange"),
        "healthy adult breathing through a long snorkel",
        (20, 40),
        ("m", "f"),
        "respiratory physiology practical",
        "{person} breathes through a long tube in a {setting}, which adds 500 mL of dead "
        "space at the same tidal volume and rate.",
        "Alveolar ventilation falls and arterial PCO2 rises.",
        "Tidal volume is 600 mL at 12 breaths a minute.",
        "Arterial PCO2 rises from 5.3 to 7.0 kPa.",
        "Oxygen saturation stays above 94%.",
        (
            Ask(
                "mechanism",
                "dead space and alveolar ventilation",
                "Which change best explains the rise in arterial PCO2?",
                "A fall in alveolar ventilation",
                (
                    "A fall in total minute ventilation",
                    "A rise in carbon dioxide production",
                    "Impaired diffusion across the alveolar membrane",
                    "A right-to-left shunt",
                ),
                ("A rise in haemoglobin", "Reduced pulmonary blood flow to the apices"),
                "minute ventilation is unchanged, but more of each breath fills dead space, so "
                "alveolar ventilation and CO2 clearance fall",
            ),
        ),
    ),
    Case(
        "physiology",
        ("physiology", "endocrinology", "renal", "water balance", "sodium", "kidney"),
        "patient after pituitary surgery passing large volumes of dilute urine",
        (30, 60),
        ("m", "f"),
        "neurosurgical ward",
        "{person} is passing 6 litres of urine a day on the {setting} after surgery for a "
        "pituitary tumour, and is very thirsty.",
        "Urine osmolality rises sharply after a dose of desmopressin.",
        "Urine osmolality is 120 mOsm/kg with plasma osmolality 305 mOsm/kg.",
        "Plasma sodium is 149 mmol/L.",
        "Blood glucose is 6.8 mmol/L.",
        (
            Ask(
                "diagnosis",
                "recognising cranial diabetes insipidus",
                "Which is the most likely diagnosis?",
                "Cranial diabetes insipidus",
                (
                    "Nephrogenic diabetes insipidus",
                    "Primary polydipsia",
                    "Osmotic diuresis from hyperglycaemia",
                    "Syndrome of inappropriate ADH secretion",
                ),
                ("Adrenal insufficiency", "Hypothyroidism"),
                "dilute urine with a high plasma osmolality means ADH is missing or ignored; a "
                "response to desmopressin shows the kidney can respond, so ADH is missing",
            ),
        ),
    ),
    Case(
        "physiology",
        ("physiology", "gastrointestinal", "digestion", "endocrinology"),
        "volunteer whose gastric emptying slows after a fatty meal",
        (20, 30),
        ("m", "f"),
        "gastrointestinal physiology laboratory",
        "{person} eats a fatty meal in a {setting} while gastric emptying and gallbladder "
        "volume are measured by ultrasound.",
        "The gallbladder contracts and gastric emptying slows within 30 minutes.",
        "Fatty acids reach the duodenum.",
        "Plasma levels of one duodenal hormone rise fivefold.",
        "Gastric acid output falls slightly.",
        (
            Ask(
                "mechanism",
                "the hormonal response to fat in the duodenum",
                "Release of which hormone best explains these changes?",
                "Cholecystokinin from duodenal I cells",
                (
                    "Secretin from duodenal S cells",
                    "Gastrin from antral G cells",
                    "Motilin from duodenal M cells",
                    "Glucose-dependent insulinotropic peptide from K cells",
                ),
                ("Somatostatin from pancreatic delta cells", "Ghrelin from the gastric fundus"),
                "fat and protein in the duodenum release CCK, which contracts the gallbladder, "
                "relaxes the sphincter of Oddi and slows gastric emptying",
            ),
        ),
    ),
    # --- biochemistry -------------------------------------------------------------------
    Case(
        "biochemistry",
        ("biochemistry", "metabolism", "genetics", "paediatrics", "inborn errors"),
        "infant with fasting hypoglycaemia and an enlarged liver",
        (1, 1),
        ("m", "f"),
        "paediatric ward",
        "{person} is admitted to the {setting} with a seizure after missing a feed, and has "
        "a protuberant abdomen.",
        "The liver is enlarged, glucagon does not raise the glucose, and lactate is high.",
        "Blood glucose is 1.8 mmol/L after a four-hour fast.",
        "Triglycerides and uric acid are raised.",
        "The spleen is not enlarged.",
        (
            Ask(
                "enzyme",
                "the enzyme missing in von Gierke disease",
                "Deficiency of which enzyme is most likely?",
                "Glucose-6-phosphatase",
                (
                    "Muscle glycogen phosphorylase",
                    "Lysosomal acid alpha-glucosidase",
                    "Glycogen debranching enzyme",
                    "Hepatic glycogen phosphorylase",
                ),
                ("Phenylalanine hydroxylase", "Hexosaminidase A"),
                "without glucose-6-phosphatase the liver cannot release free glucose from "
                "glycogen or gluconeogenesis, so fasting causes hypoglycaemia and lactic acidosis",
            ),
            Ask(
                "management",
                "preventing hypoglycaemia in a glycogen storage disease",
                "Which long-term measure is most appropriate?",
                "Uncooked cornstarch feeds overnight",
                (
                    "A high-fructose diet",
                    "Regular intramuscular glucagon injections",
                    "Enzyme replacement therapy",
                    "A ketogenic diet",
                ),
                ("Phenylalanine restriction", "Lactose-free formula only"),
                "cornstarch is digested slowly and releases glucose through the night; glucagon "
                "cannot work without the enzyme, and fructose worsens lactic acidosis",
            ),
        ),
    ),
    Case(
        "biochemistry",
        ("biochemistry", "nutrition", "vitamins", "neurology", "alcohol"),
        "malnourished drinker with confusion and unsteady gait",
        (40, 65),
        ("m", "f"),
        "emergency department",
        "{person} with long-standing heavy alcohol use is brought to the {setting} confused, "
        "unsteady on the feet and seeing double.",
        "There is nystagmus and a bilateral sixth nerve palsy.",
        "The patient has eaten little for weeks.",
        "Blood lactate is 4.2 mmol/L with a normal glucose.",
        "Blood alcohol is low.",
        (
            Ask(
                "enzyme",
                "the thiamine-dependent enzymes",
                "Impaired activity of which enzyme best explains the raised lactate?",
                "Pyruvate dehydrogenase",
                (
                    "Lactate dehydrogenase",
                    "Pyruvate carboxylase",
                    "Phosphofructokinase-1",
                    "Glucose-6-phosphate dehydrogenase",
                ),
                ("Phenylalanine hydroxylase", "HMG-CoA reductase"),
                "thiamine pyrophosphate is a cofactor of pyruvate dehydrogenase; without it "
                "pyruvate is turned into lactate",
            ),
            Ask(
                "management",
                "the urgent treatment of Wernicke encephalopathy",
                "What is the most appropriate immediate step?",
                "Intravenous thiamine before any glucose",
                (
                    "Intravenous glucose followed by oral thiamine",
                    "Oral thiamine and observation",
                    "Intravenous chlordiazepoxide alone",
                    "Intravenous vitamin B12",
                ),
                ("Lumbar puncture", "Haloperidol for agitation"),
                "Wernicke encephalopathy needs high-dose parenteral thiamine at once; glucose "
                "given first can precipitate or worsen it",
            ),
        ),
    ),
    Case(
        "biochemistry",
        ("biochemistry", "lipids", "genetics", "cardiology", "metabolism"),
        "young adult with tendon xanthomas and a family history of early heart attacks",
        (25, 40),
        ("m", "f"),
        "lipid clinic",
        "{person} is referred to the {setting} because a parent died of a myocardial "
        "infarction at 45.",
        "There are xanthomas on the Achilles tendons.",
        "Total cholesterol is 10.2 mmol/L with normal triglycerides.",
        "LDL cholesterol is 8.1 mmol/L.",
        "The patient smokes five cigarettes a day.",
        (
            Ask(
                "mechanism",
                "the defect in familial hypercholesterolaemia",
                "Which defect most likely underlies these findings?",
                "Loss of function of the LDL receptor",
                (
                    "Deficiency of lipoprotein lipase",
                    "Deficiency of apolipoprotein C-II",
                    "Loss of function of PCSK9",
                    "Overproduction of VLDL by the hepatocytes",
                ),
                ("Deficiency of hexosaminidase A", "Deficiency of glucocerebrosidase"),
                "without working LDL receptors the liver cannot clear LDL, which accumulates in "
                "plasma, tendons and arteries; lipoprotein lipase defects raise triglycerides",
            ),
            Ask(
                "drug",
                "first-line lipid-lowering treatment",
                "Which drug is the most appropriate first treatment?",
                "Atorvastatin",
                ("Ezetimibe", "Fenofibrate", "Colestyramine", "Nicotinic acid"),
                ("Orlistat", "Warfarin"),
                "a high-intensity statin inhibits HMG-CoA reductase, up-regulates the remaining "
                "LDL receptors and lowers cardiovascular risk",
            ),
        ),
    ),
    Case(
        "biochemistry",
        ("biochemistry", "haematology", "red cell", "genetics", "enzymes"),
        "man with haemolysis after eating fava beans",
        (18, 35),
        ("m",),
        "emergency department",
        "{person} of Mediterranean descent comes to the {setting} with dark urine and "
        "jaundice two days after eating fava beans.",
        "The blood film shows bite cells and Heinz bodies.",
        "His brother had a similar episode after an antimalarial.",
        "Haemoglobin is 82 g/L with a raised bilirubin and reticulocyte count.",
        "He had a sore throat last week.",
        (
            Ask(
                "enzyme",
                "the enzyme deficiency behind oxidative haemolysis",
                "Deficiency of which enzyme is most likely?",
                "Glucose-6-phosphate dehydrogenase",
                (
                    "Pyruvate kinase",
                    "Hexokinase",
                    "Glutathione reductase",
                    "Pyrimidine 5'-nucleotidase type 1",
                ),
                ("Ferrochelatase", "Uroporphyrinogen decarboxylase"),
                "G6PD makes the NADPH that keeps glutathione reduced; without it oxidant stress "
                "denatures haemoglobin into Heinz bodies",
            ),
        ),
    ),
    Case(
        "biochemistry",
        ("biochemistry", "metabolism", "endocrinology", "diabetes", "acid-base"),
        "young adult with new diabetes and deep sighing breathing",
        (16, 28),
        ("m", "f"),
        "emergency department",
        "{person} is brought to the {setting} with three days of thirst, vomiting and deep, "
        "sighing breaths.",
        "Capillary ketones are 5.8 mmol/L and glucose 28 mmol/L.",
        "The breath smells of pear drops.",
        "Arterial pH is 7.12 with bicarbonate 8 mmol/L.",
        "The patient had a viral illness last week.",
        (
            Ask(
                "mechanism",
                "the biochemistry of ketogenesis in insulin deficiency",
                "Which process is the main source of the acid?",
                "Hepatic ketogenesis from fatty acids",
                (
                    "Anaerobic glycolysis in skeletal muscle",
                    "Hepatic gluconeogenesis from lactate",
                    "Renal failure to excrete hydrogen ions",
                    "Deamination of amino acids in muscle",
                ),
                ("Bacterial fermentation in the colon", "Breakdown of glycogen in the brain"),
                "without insulin, lipolysis floods the liver with fatty acids; their "
                "beta-oxidation outruns the Krebs cycle and makes ketone bodies",
            ),
            Ask(
                "management",
                "the first steps in diabetic ketoacidosis",
                "What is the most appropriate first step in management?",
                "Intravenous 0.9% saline",
                (
                    "Intravenous insulin bolus before fluids",
                    "Intravenous sodium bicarbonate",
                    "Subcutaneous long-acting insulin alone",
                    "Intravenous 5% glucose",
                ),
                ("Oral rehydration only", "Intravenous antibiotics"),
                "fluid replacement comes first; a fixed-rate insulin infusion follows, with "
                "potassium added as it falls",
            ),
        ),
    ),
    # --- pathology ----------------------------------------------------------------------
    Case(
        "pathology",
        ("pathology", "renal", "kidney", "paediatrics", "nephrology", "oedema"),
        "child with generalised oedema after a cold",
        (3, 7),
        ("m", "f"),
        "paediatric clinic",
        "{person} is brought to the {setting} with puffy eyes in the morning and swollen legs "
        "two weeks after a cold.",
        "Urine dipstick shows protein 4+ and no blood.",
        "Blood pressure and renal function are normal.",
        "Serum albumin is 18 g/L and cholesterol 8.2 mmol/L.",
        "A younger sibling had a similar cold.",
        (
            Ask(
                "diagnosis",
                "recognising nephrotic syndrome in childhood",
                "Which is the most likely diagnosis?",
                "Minimal change disease",
                (
                    "Post-streptococcal glomerulonephritis",
                    "Focal segmental glomerulosclerosis",
                    "IgA nephropathy",
                    "Membranous nephropathy",
                ),
                ("Acute pyelonephritis", "Renal cell carcinoma"),
                "selective proteinuria without haematuria, hypertension or renal impairment in a "
                "young child is most often minimal change disease",
            ),
            Ask(
                "mechanism",
                "the glomerular lesion of minimal change disease",
                "Which change would electron microscopy of the glomerulus most likely show?",
                "Effacement of podocyte foot processes",
                (
                    "Subepithelial immune-complex humps",
                    "Thickened basement membrane with spikes",
                    "Mesangial IgA deposits",
                    "Splitting of the basement membrane",
                ),
                ("Crescents in Bowman's space", "Amyloid fibrils"),
                "light microscopy is normal; only electron microscopy shows the effaced foot "
                "processes that let albumin through",
            ),
        ),
    ),
    Case(
        "pathology",
        ("pathology", "cardiovascular", "cardiology", "inflammation", "necrosis", "heart"),
        "patient who dies days after a myocardial infarction",
        (55, 80),
        ("m", "f"),
        "coronary care unit",
        "{person} recovering on the {setting} from an anterior myocardial infarction "
        "collapses suddenly on the fifth day.",
        "There is electromechanical dissociation with distended neck veins.",
        "Pain had settled by day two.",
        "Echocardiography shows a large pericardial effusion with tamponade.",
        "There is a soft new apical murmur.",
        (
            Ask(
                "diagnosis",
                "complications of myocardial infarction by timing",
                "Which complication is most likely?",
                "Left ventricular free wall rupture",
                (
                    "Rupture of a papillary muscle",
                    "Rupture of the interventricular septum",
                    "Dressler syndrome",
                    "Left ventricular aneurysm",
                ),
                ("Aortic dissection", "Pulmonary embolism"),
                "free-wall rupture peaks at three to seven days, when macrophages have softened "
                "the necrotic wall and before collagen is laid down; blood fills the pericardium",
            ),
            Ask(
                "mechanism",
                "the histology of infarcted myocardium over time",
                "Which histological feature would the infarct most likely show at this stage?",
                "Macrophages removing necrotic myocytes",
                (
                    "Neutrophils infiltrating coagulative necrosis",
                    "Dense collagen scar",
                    "Wavy fibres with no inflammation",
                    "Granulation tissue with new vessels",
                ),
                ("Caseating granulomas", "Fatty infiltration"),
                "neutrophils dominate at one to three days and macrophages at three to seven; "
                "granulation tissue follows in the second week and scar over weeks",
            ),
        ),
    ),
    Case(
        "pathology",
        ("pathology", "oncology", "gastroenterology", "neoplasia", "colon", "genetics"),
        "young adult with hundreds of colonic polyps",
        (20, 35),
        ("m", "f"),
        "colorectal clinic",
        "{person} attends the {setting} with rectal bleeding; a parent had colon cancer at 40.",
        "Colonoscopy shows hundreds of adenomatous polyps.",
        "The polyps carpet the whole colon.",
        "Biopsies show tubular adenomas with low-grade dysplasia.",
        "There is a pigmented lesion of the retina.",
        (
            Ask(
                "mechanism",
                "the gene behind familial adenomatous polyposis",
                "Loss of function of which gene most likely underlies this condition?",
                "APC",
                ("MLH1", "KRAS", "TP53", "SMAD4"),
                ("BRCA1", "RB1"),
                "germline APC loss lets beta-catenin escape degradation and drive proliferation, "
                "seeding hundreds of adenomas; MLH1 defects cause Lynch syndrome with few polyps",
            ),
            Ask(
                "management",
                "preventing cancer in familial adenomatous polyposis",
                "What is the most appropriate management?",
                "Prophylactic colectomy",
                (
                    "Annual colonoscopy with polypectomy",
                    "Long-term aspirin alone",
                    "Endoscopic mucosal resection of the largest polyps",
                    "Faecal immunochemical testing every two years",
                ),
                ("Chemotherapy", "A high-fibre diet"),
                "with hundreds of adenomas, cancer is almost certain by middle age; removing the "
                "colon is the only reliable prevention",
            ),
        ),
    ),
    Case(
        "pathology",
        ("pathology", "haematology", "coagulation", "vascular", "thrombosis"),
        "woman after a long flight with a swollen calf",
        (28, 45),
        ("f",),
        "emergency department",
        "{person} who takes the combined oral contraceptive comes to the {setting} with a "
        "painful swollen left calf after a 12-hour flight.",
        "Ultrasound shows a thrombus in the popliteal vein.",
        "Her mother had a pulmonary embolism in pregnancy.",
        "Activated protein C resistance is found on testing.",
        "She had a minor ankle sprain a month ago.",
        (
            Ask(
                "mechanism",
                "inherited thrombophilia",
                "Which inherited defect most likely contributed?",
                "Factor V Leiden mutation",
                (
                    "Prothrombin G20210A mutation",
                    "Antithrombin deficiency",
                    "Protein S deficiency",
                    "Factor VIII deficiency",
                ),
                ("Von Willebrand disease", "Factor IX deficiency"),
                "factor V Leiden resists cleavage by activated protein C, the commonest "
                "inherited cause of venous thrombosis; factor VIII deficiency causes bleeding",
            ),
        ),
    ),
    Case(
        "pathology",
        ("pathology", "respiratory", "occupational", "oncology", "lung"),
        "retired shipyard worker with breathlessness and chest pain",
        (65, 82),
        ("m",),
        "respiratory clinic",
        "{person} who fitted pipe insulation in a shipyard for 30 years attends the {setting} "
        "with breathlessness and a dull ache in the right chest.",
        "CT shows nodular pleural thickening encasing the right lung.",
        "There are calcified pleural plaques on both sides.",
        "Pleural fluid is bloodstained with no malignant cells.",
        "He smoked for ten years in his youth.",
        (
            Ask(
                "diagnosis",
                "asbestos-related malignancy",
                "Which is the most likely diagnosis?",
                "Malignant pleural mesothelioma",
                (
                    "Bronchial adenocarcinoma",
                    "Benign asbestos pleural effusion",
                    "Tuberculous pleurisy",
                    "Pleural metastases from a renal cancer",
                ),
                ("Sarcoidosis", "Pneumothorax"),
                "nodular, encasing pleural thickening decades after asbestos exposure is "
                "mesothelioma until proven otherwise; plaques mark the exposure",
            ),
        ),
    ),
    # --- microbiology -------------------------------------------------------------------
    Case(
        "microbiology",
        ("microbiology", "infection", "neurology", "meningitis", "infectious diseases"),
        "university student with fever, headache and a rash",
        (18, 22),
        ("m", "f"),
        "emergency department",
        "{person} living in a university hall of residence is brought to the {setting} with "
        "fever, headache and neck stiffness that began this morning.",
        "There is a non-blanching purpuric rash on the legs.",
        "Two other students in the hall have been unwell.",
        "CSF Gram stain shows Gram-negative diplococci.",
        "The student has a cold sore on the lip.",
        (
            Ask(
                "organism",
                "the commonest cause of meningitis with purpura",
                "Which organism is the most likely cause?",
                "Neisseria meningitidis",
                (
                    "Streptococcus pneumoniae",
                    "Haemophilus influenzae type b",
                    "Listeria monocytogenes",
                    "Herpes simplex virus type 1",
                ),
                ("Escherichia coli", "Cryptococcus neoformans"),
                "Gram-negative diplococci with a purpuric rash in a young adult living in close "
                "quarters point to meningococcus",
            ),
            Ask(
                "management",
                "the immediate treatment of suspected meningococcal disease",
                "What is the most appropriate immediate step?",
                "Intravenous ceftriaxone at once",
                (
                    "Lumbar puncture before any antibiotic",
                    "CT of the head before any antibiotic",
                    "Oral amoxicillin and review in 24 hours",
                    "Intravenous aciclovir alone",
                ),
                ("Intravenous vancomycin alone", "Observation on the ward"),
                "a purpuric rash with meningism needs antibiotics at once; tests must not delay "
                "them",
            ),
        ),
    ),
    Case(
        "microbiology",
        ("microbiology", "infection", "gastroenterology", "antibiotics", "hospital"),
        "inpatient with diarrhoea after antibiotics",
        (70, 88),
        ("m", "f"),
        "orthopaedic ward",
        "{person} on the {setting}, treated with co-amoxiclav for a wound infection after a "
        "hip replacement, develops profuse watery diarrhoea.",
        "Stool is positive for a toxin-producing anaerobe.",
        "The white cell count is 18 x 10^9/L.",
        "Colonoscopy shows yellow plaques on the colonic mucosa.",
        "The patient was given a laxative two days ago.",
        (
            Ask(
                "organism",
                "antibiotic-associated colitis",
                "Which organism is the most likely cause?",
                "Clostridioides difficile",
                (
                    "Clostridium perfringens",
                    "Staphylococcus aureus",
                    "Norovirus",
                    "Enterotoxigenic Escherichia coli",
                ),
                ("Giardia lamblia", "Helicobacter pylori"),
                "broad-spectrum antibiotics clear the normal flora and let toxigenic C. difficile "
                "cause pseudomembranous colitis",
            ),
            Ask(
                "drug",
                "first-line treatment of Clostridioides difficile infection",
                "Which drug is the most appropriate first treatment?",
                "Oral vancomycin",
                ("Intravenous vancomycin", "Oral ciprofloxacin", "Loperamide", "Oral co-amoxiclav"),
                ("Oral nystatin", "Intravenous gentamicin"),
                "oral vancomycin stays in the gut lumen where the infection is; intravenous "
                "vancomycin does not reach it, and antimotility drugs are avoided",
            ),
        ),
    ),
    Case(
        "microbiology",
        ("microbiology", "infection", "urology", "renal", "antibiotics", "women's health"),
        "young woman with dysuria and frequency",
        (19, 35),
        ("f",),
        "general practice",
        "{person} attends {setting} with two days of burning on passing urine and frequency; "
        "she is not pregnant.",
        "Urine dipstick is positive for nitrites and leucocytes.",
        "She has no fever or loin pain.",
        "Urine culture grows a lactose-fermenting Gram-negative rod.",
        "She started a new sexual relationship last month.",
        (
            Ask(
                "organism",
                "the commonest cause of cystitis",
                "Which organism is the most likely cause?",
                "Escherichia coli",
                (
                    "Staphylococcus saprophyticus",
                    "Proteus mirabilis",
                    "Klebsiella pneumoniae",
                    "Enterococcus faecalis",
                ),
                ("Chlamydia trachomatis", "Candida albicans"),
                "uropathogenic E. coli causes most uncomplicated cystitis and ferments lactose; "
                "Proteus does not",
            ),
            Ask(
                "drug",
                "first-line treatment of uncomplicated cystitis",
                "Which drug is the most appropriate treatment?",
                "Nitrofurantoin",
                ("Ciprofloxacin", "Co-amoxiclav", "Cefalexin", "Intravenous gentamicin"),
                ("Fluconazole", "Metronidazole"),
                "nitrofurantoin concentrates in urine, spares the gut flora and keeps resistance "
                "low; quinolones are kept for complicated infection",
            ),
        ),
    ),
    Case(
        "microbiology",
        ("microbiology", "infection", "respiratory", "tuberculosis", "global health", "lung"),
        "migrant worker with a chronic cough and night sweats",
        (25, 50),
        ("m", "f"),
        "respiratory clinic",
        "{person} who arrived from a high-incidence country a year ago attends the {setting} "
        "with three months of cough, night sweats and weight loss.",
        "Sputum shows acid-fast bacilli.",
        "Chest radiograph shows right upper lobe cavitation.",
        "An interferon-gamma release assay is positive.",
        "The patient works in a poultry factory.",
        (
            Ask(
                "organism",
                "recognising pulmonary tuberculosis",
                "Which organism is the most likely cause?",
                "Mycobacterium tuberculosis",
                (
                    "Mycobacterium avium complex",
                    "Nocardia asteroides",
                    "Aspergillus fumigatus",
                    "Klebsiella pneumoniae",
                ),
                ("Streptococcus pyogenes", "Chlamydia psittaci"),
                "upper lobe cavitation with acid-fast bacilli in an immunocompetent adult from "
                "a high-incidence country is tuberculosis",
            ),
            Ask(
                "management",
                "starting treatment for active tuberculosis",
                "What is the most appropriate treatment?",
                "Rifampicin, isoniazid, pyrazinamide and ethambutol",
                (
                    "Isoniazid alone for six months",
                    "Rifampicin and isoniazid for two months",
                    "Clarithromycin, rifampicin and ethambutol for twelve months",
                    "Streptomycin alone for three months",
                ),
                ("Oral amoxicillin for a week", "Inhaled corticosteroids"),
                "four drugs for two months then two for four prevent resistance; one drug alone "
                "selects resistant mutants",
            ),
        ),
    ),
    Case(
        "microbiology",
        ("microbiology", "infection", "virology", "hepatology", "liver"),
        "traveller with jaundice after eating shellfish",
        (20, 45),
        ("m", "f"),
        "infectious diseases clinic",
        "{person} attends the {setting} with fever, nausea and then jaundice, four weeks "
        "after eating shellfish on a holiday abroad.",
        "Anti-HAV IgM is positive.",
        "ALT is 2,400 U/L.",
        "Bilirubin is 110 micromol/L and the INR 1.1.",
        "The patient had a tattoo done on the same holiday.",
        (
            Ask(
                "organism",
                "faecal-oral viral hepatitis",
                "Which virus is the most likely cause?",
                "Hepatitis A virus",
                (
                    "Hepatitis B virus",
                    "Hepatitis C virus",
                    "Hepatitis E virus",
                    "Epstein-Barr virus",
                ),
                ("Rotavirus", "Influenza A virus"),
                "anti-HAV IgM marks acute hepatitis A, spread by the faecal-oral route in "
                "shellfish; the tattoo is a tempting but unsupported route",
            ),
        ),
    ),
    # --- clinical medicine --------------------------------------------------------------
    Case(
        "clinical medicine",
        ("medicine", "endocrinology", "thyroid", "clinical"),
        "young woman with weight loss, tremor and a goitre",
        (22, 40),
        ("f",),
        "endocrine clinic",
        "{person} attends the {setting} with weight loss despite a good appetite, "
        "palpitations and heat intolerance.",
        "There is a diffuse goitre with a bruit and the eyes are prominent.",
        "There is a fine tremor of the outstretched hands.",
        "TSH is undetectable and free T4 is 48 pmol/L.",
        "She has been stressed by exams.",
        (
            Ask(
                "diagnosis",
                "the commonest cause of hyperthyroidism",
                "Which is the most likely diagnosis?",
                "Graves disease",
                (
                    "Toxic multinodular goitre",
                    "Subacute thyroiditis",
                    "Toxic adenoma",
                    "Factitious thyrotoxicosis",
                ),
                ("Hashimoto thyroiditis", "Anxiety disorder"),
                "a diffuse goitre with a bruit and eye signs in a young woman is Graves disease, "
                "driven by TSH-receptor antibodies",
            ),
            Ask(
                "investigation",
                "confirming the cause of thyrotoxicosis",
                "Which investigation would best confirm the cause?",
                "TSH-receptor antibodies",
                (
                    "Thyroid peroxidase antibodies",
                    "Thyroid ultrasound",
                    "Fine-needle aspiration of the thyroid",
                    "Serum thyroglobulin",
                ),
                ("Serum calcitonin", "Short Synacthen test"),
                "TSH-receptor antibodies are specific for Graves disease; peroxidase antibodies "
                "are common in several thyroid disorders",
            ),
        ),
    ),
    Case(
        "clinical medicine",
        ("medicine", "cardiology", "cardiovascular", "emergency", "clinical", "heart"),
        "man with crushing chest pain and ST elevation",
        (48, 75),
        ("m",),
        "emergency department",
        "{person} arrives at the {setting} with 40 minutes of crushing central chest pain "
        "spreading to the jaw, with sweating.",
        "The ECG shows ST elevation in leads II, III and aVF.",
        "The pain is not eased by glyceryl trinitrate.",
        "Blood pressure is 100/60 mmHg and the right ventricular leads show ST elevation.",
        "He had indigestion after dinner.",
        (
            Ask(
                "management",
                "reperfusion in ST-elevation myocardial infarction",
                "What is the most appropriate next step in management?",
                "Primary percutaneous coronary intervention",
                (
                    "Thrombolysis with alteplase after a troponin result",
                    "Coronary angiography within 72 hours",
                    "An exercise tolerance test",
                    "A CT coronary angiogram",
                ),
                ("Oral proton pump inhibitor", "Discharge with outpatient follow-up"),
                "ST elevation with ongoing pain needs reperfusion at once; primary PCI within two "
                "hours is best, and troponin must not delay it",
            ),
            Ask(
                "anatomy",
                "localising an infarct from the ECG",
                "Which coronary artery is most likely occluded?",
                "Right coronary artery",
                (
                    "Left anterior descending artery",
                    "Left circumflex artery",
                    "Left main stem",
                    "First diagonal branch",
                ),
                ("Internal mammary artery", "Pulmonary artery"),
                "ST elevation in II, III and aVF is an inferior infarct, usually the right "
                "coronary artery; right ventricular involvement supports it",
            ),
        ),
    ),
    Case(
        "clinical medicine",
        ("medicine", "respiratory", "emergency", "vascular", "clinical", "lung"),
        "woman with sudden breathlessness after surgery",
        (35, 70),
        ("f", "m"),
        "surgical ward",
        "{person} on the {setting} becomes suddenly breathless with sharp chest pain on "
        "breathing, six days after a knee replacement.",
        "The left calf is swollen and tender.",
        "Pulse is 118/min and oxygen saturation 89% on air.",
        "The chest radiograph is normal and the D-dimer raised.",
        "A mild cough began the day before.",
        (
            Ask(
                "investigation",
                "confirming pulmonary embolism",
                "Which investigation would best confirm the diagnosis?",
                "CT pulmonary angiography",
                (
                    "Ventilation-perfusion scan after a chest radiograph",
                    "Lower limb Doppler ultrasound",
                    "Transthoracic echocardiography",
                    "Repeat D-dimer in 24 hours",
                ),
                ("Sputum culture", "Spirometry"),
                "CT pulmonary angiography shows the clot directly; a raised D-dimer is expected "
                "after surgery and cannot confirm anything",
            ),
            Ask(
                "diagnosis",
                "recognising pulmonary embolism",
                "Which is the most likely diagnosis?",
                "Pulmonary embolism",
                (
                    "Hospital-acquired pneumonia",
                    "Acute pericarditis",
                    "Spontaneous pneumothorax",
                    "Acute myocardial infarction",
                ),
                ("Asthma", "Panic attack"),
                "sudden pleuritic pain, tachycardia and hypoxia with a clear radiograph after "
                "joint replacement is a pulmonary embolism until shown otherwise",
            ),
        ),
    ),
    Case(
        "clinical medicine",
        ("medicine", "obstetrics", "pregnancy", "hypertension", "clinical", "women's health"),
        "pregnant woman with headache and raised blood pressure",
        (22, 40),
        ("f",),
        "antenatal clinic",
        "{person} at 34 weeks of her first pregnancy attends the {setting} with a headache "
        "and swollen hands.",
        "Blood pressure is 168/112 mmHg and urine shows protein 3+.",
        "Her blood pressure at booking was 112/70 mmHg.",
        "Platelets are 95 x 10^9/L and ALT 120 U/L.",
        "She has a history of migraine.",
        (
            Ask(
                "diagnosis",
                "recognising pre-eclampsia",
                "Which is the most likely diagnosis?",
                "Pre-eclampsia",
                (
                    "Gestational hypertension",
                    "Chronic hypertension",
                    "Acute fatty liver of pregnancy",
                    "Migraine",
                ),
                ("Hyperemesis gravidarum", "Gestational diabetes"),
                "new hypertension after 20 weeks with proteinuria and organ involvement is "
                "pre-eclampsia",
            ),
            Ask(
                "drug",
                "preventing eclamptic seizures",
                "Which drug should be given to prevent seizures?",
                "Magnesium sulfate",
                ("Phenytoin", "Intravenous diazepam", "Levetiracetam", "Labetalol"),
                ("Sumatriptan", "Metformin"),
                "magnesium sulfate prevents and treats eclamptic seizures better than "
                "anticonvulsants; labetalol treats the blood pressure",
            ),
        ),
    ),
    Case(
        "clinical medicine",
        ("medicine", "neurology", "stroke", "emergency", "clinical"),
        "older adult with sudden weakness of one side",
        (62, 85),
        ("m", "f"),
        "emergency department",
        "{person} is brought to the {setting} 90 minutes after sudden weakness of the right "
        "arm and face and difficulty finding words.",
        "CT of the head shows no haemorrhage.",
        "Blood glucose is 6.1 mmol/L.",
        "Blood pressure is 172/94 mmHg and the patient is not anticoagulated.",
        "The patient fell at home last month.",
        (
            Ask(
                "management",
                "hyperacute management of ischaemic stroke",
                "What is the most appropriate next step?",
                "Intravenous thrombolysis",
                (
                    "Aspirin 300 mg and admission",
                    "Lower the blood pressure below 140/90 mmHg first",
                    "MRI of the brain before any treatment",
                    "Start therapeutic heparin",
                ),
                ("Oral antibiotics", "Discharge with clinic follow-up"),
                "within 4.5 hours of onset, with haemorrhage excluded, thrombolysis improves "
                "outcome; aspirin follows 24 hours later",
            ),
        ),
    ),
    Case(
        "clinical medicine",
        ("medicine", "rheumatology", "musculoskeletal", "clinical", "joints"),
        "man with a hot swollen big toe after a feast",
        (40, 70),
        ("m",),
        "general practice",
        "{person} attends {setting} with a red, hot, exquisitely painful big toe that woke "
        "him the night after a large meal with beer.",
        "Joint fluid shows negatively birefringent needle-shaped crystals.",
        "He started a thiazide diuretic last month.",
        "Serum urate is 0.52 mmol/L.",
        "He stubbed the toe a week ago.",
        (
            Ask(
                "diagnosis",
                "recognising acute gout",
                "Which is the most likely diagnosis?",
                "Acute gout",
                (
                    "Pseudogout",
                    "Septic arthritis",
                    "Cellulitis",
                    "Reactive arthritis",
                ),
                ("Osteoarthritis", "Plantar fasciitis"),
                "negatively birefringent needle crystals are urate; pseudogout crystals are "
                "rhomboid and positively birefringent",
            ),
            Ask(
                "drug",
                "treating an acute attack of gout",
                "Which drug is the most appropriate treatment of this attack?",
                "Naproxen",
                ("Allopurinol", "Febuxostat", "Probenecid", "Aspirin"),
                ("Methotrexate", "Amoxicillin"),
                "an NSAID (or colchicine) settles the attack; allopurinol is started later to "
                "prevent attacks, and aspirin raises urate",
            ),
        ),
    ),
    Case(
        "clinical medicine",
        ("medicine", "haematology", "anaemia", "gastroenterology", "clinical"),
        "older man with tiredness and iron deficiency",
        (60, 80),
        ("m",),
        "general practice",
        "{person} attends {setting} with six months of tiredness and breathlessness on "
        "climbing stairs.",
        "Haemoglobin is 92 g/L with microcytic red cells and a ferritin of 8 micrograms/L.",
        "He eats a normal diet and has no obvious bleeding.",
        "MCV is 71 fL.",
        "He takes low-dose aspirin.",
        (
            Ask(
                "investigation",
                "investigating iron deficiency in an older man",
                "Which investigation is the most appropriate next step?",
                "Upper and lower gastrointestinal endoscopy",
                (
                    "A trial of oral iron and a review in a year",
                    "Bone marrow aspiration",
                    "Haemoglobin electrophoresis",
                    "Faecal calprotectin",
                ),
                ("Chest radiograph", "Thyroid function tests"),
                "iron deficiency in a man over 60 is gastrointestinal blood loss until proven "
                "otherwise; both ends of the gut are examined for cancer",
            ),
        ),
    ),
)
