package memeval

// Fact is one thing the user learns from the assistant: the question, the
// answer holding an invented Marker word (unique across all sets), and a
// Paraphrase of the question that shares only one to three content words
// with it and never contains the marker.
type Fact struct {
	Question, Answer, Marker, Paraphrase string
}

// mainFacts are the 30 facts of the tuning set: six domains, five each.
var mainFacts = []Fact{
	// Travel.
	{"What is the wifi password at the lake cabin we rent every summer?", "The lake cabin wifi password is Trelvanix, written on the fridge magnet.", "Trelvanix",
		"I can't get online at our summer place by the lake, what was the code?"},
	{"Which seat did I book on the overnight train to Vienna?", "You booked seat Quorbel 42 in the sleeper car to Vienna.", "Quorbel",
		"Remind me where I'm sitting on the night journey to Vienna."},
	{"What is the confirmation code for my hotel in Lisbon?", "Your Lisbon hotel confirmation code is Marvistol.", "Marvistol",
		"I need the booking reference for where I'm staying in Lisbon."},
	{"Which gate does the ferry to the island leave from?", "The island ferry leaves from gate Pelnarow at the north pier.", "Pelnarow",
		"Where do I board the boat that goes over to the island?"},
	{"What did we name the rental car we had in Iceland?", "You nicknamed the Iceland rental car Grumbolt because of its noisy engine.", "Grumbolt",
		"What was our funny nickname for the vehicle we drove around Iceland?"},
	// Cooking.
	{"What is the secret ingredient in grandma's tomato soup?", "Grandma's tomato soup gets a pinch of the Zaffrelin spice blend.", "Zaffrelin",
		"What special thing goes into the soup my grandmother makes?"},
	{"How long do I rest the sourdough before baking it?", "Rest the sourdough for the Vellacort interval of 47 minutes before baking.", "Vellacort",
		"Before the sourdough goes in the oven, how long does it sit?"},
	{"Which brand of olive oil did the chef recommend?", "The chef recommended Olvarrena olive oil from Crete.", "Olvarrena",
		"What oil was the cook's suggestion for us?"},
	{"What temperature should the oven be for the lamb roast?", "Set the oven to 165 degrees, the Brennick setting, for the lamb.", "Brennick",
		"How hot do I cook the lamb?"},
	{"What is the name of the spice shop near the market?", "The spice shop near the market is called Dulmaris.", "Dulmaris",
		"Where did we buy seasoning close to the market square?"},
	// Software operations.
	{"What is the name of the staging database server?", "The staging database runs on host Krevallon in rack four.", "Krevallon",
		"Which machine hosts the test environment's database?"},
	{"Which port does the metrics exporter listen on?", "The metrics exporter listens on port 9471 under the service name Ostrafel.", "Ostrafel",
		"Where can I scrape the metrics from?"},
	{"Who is on call for the payments service this week?", "The payments on-call engineer this week is Bravolund.", "Bravolund",
		"Who should I page if payments break tonight?"},
	{"What is the deploy freeze code word for the holiday release?", "The holiday release freeze code word is Nimbraxa.", "Nimbraxa",
		"What's the password that stops deployments during the holidays?"},
	{"Which branch holds the hotfix for the login bug?", "The login hotfix lives on branch fix/Serpantil.", "Serpantil",
		"Where is the fix for the login problem?"},
	// Health and fitness.
	{"What dose of vitamin D did the doctor prescribe?", "The doctor prescribed 2000 units of vitamin D, the Calvetrin brand.", "Calvetrin",
		"How much of that vitamin am I supposed to take?"},
	{"What is my target heart rate for zone two running?", "Your zone two target is 138 beats per minute, the Harnovel zone.", "Harnovel",
		"What pulse should I hold during zone two?"},
	{"Which stretch did the physio give me for my knee?", "The physio gave you the Tamberlow stretch for your knee.", "Tamberlow",
		"What exercise was I told to do for the sore knee?"},
	{"What time is my dentist appointment on Thursday?", "Your dentist appointment is Thursday at 3pm with Dr Pomerith.", "Pomerith",
		"When do I see the tooth doctor this Thursday?"},
	{"What is the name of the yoga class I liked?", "The yoga class you liked is Sunflow Velantra on Tuesdays.", "Velantra",
		"Which session at the studio did I enjoy? It was yoga."},
	// Home and money.
	{"What is the account number for the electricity bill?", "The electricity account number is EL-Drovamin-5521.", "Drovamin",
		"What do I quote when paying the electricity company?"},
	{"Where did we hide the spare house key?", "The spare key is under the Wexhollow stone by the shed.", "Wexhollow",
		"If I'm locked out, where is the extra key?"},
	{"What is the code for the garage door keypad?", "The garage door code is Fennarix-7741.", "Fennarix",
		"How do I open the garage from outside?"},
	{"Which insurance company covers the house?", "The house is insured with Quellmark Mutual.", "Quellmark",
		"Who is our house insurer again?"},
	{"What is the name of the plumber who fixed the boiler?", "The boiler was fixed by the plumber Ostrevane.", "Ostrevane",
		"Who repaired our heating boiler last winter?"},
	// Pets and garden.
	{"What food brand does our cat eat?", "The cat eats Purnavel salmon kibble.", "Purnavel",
		"I'm at the shop, what should I get for the cat's dinner?"},
	{"What is the vet's name for the dog?", "The dog's vet is Dr Ambrisel at the corner clinic.", "Ambrisel",
		"Who looks after the dog when it's sick?"},
	{"When should I prune the apple tree?", "Prune the apple tree in late February with the Corvandel cut.", "Corvandel",
		"What month do I trim the apple tree?"},
	{"What fertilizer did the garden centre suggest for the roses?", "The garden centre suggested Rosmiraf feed for the roses.", "Rosmiraf",
		"What should I feed my roses?"},
	{"What is the name of the neighbour's parrot?", "The neighbour's parrot is called Zimbalo.", "Zimbalo",
		"What's the talking bird next door called, the parrot?"},
}

// heldOutFacts are the 24 facts of the held-out set: other domains, other
// filler, random interleaving. Nothing was tuned on them.
var heldOutFacts = []Fact{
	// Music.
	{"What tuning does my band use for the song Ember?", "Your band plays Ember in Drop Kelvaro tuning.", "Kelvaro",
		"How do we tune the guitars for Ember?"},
	{"Which rehearsal room did we book for Friday?", "Friday rehearsal is in room Astoveni at the arts centre.", "Astoveni",
		"Where are we practising on Friday?"},
	{"What's the name of the piano teacher my daughter sees?", "Your daughter's piano teacher is Mrs Lindqvar.", "Lindqvar",
		"Who gives my kid her piano lessons?"},
	{"Which microphone did the sound engineer recommend?", "The sound engineer recommended the Brontessa M7 microphone.", "Brontessa",
		"What mic should I get, according to the engineer?"},
	{"What is the setlist opener for the summer festival gig?", "The summer festival gig opens with Corrimund.", "Corrimund",
		"What song do we start with at the festival?"},
	{"Which string gauge do I use on the bass?", "You use Tharvolle medium gauge strings on the bass.", "Tharvolle",
		"What thickness of strings go on my bass guitar?"},
	// Cars.
	{"What tyre pressure does the van need?", "The van needs 3.2 bar, as the Gorvantic sticker says.", "Gorvantic",
		"How much air goes in the van's tyres?"},
	{"When is the car due for its next service?", "The car is due for service in May at Halvertine Motors.", "Halvertine",
		"When does the car need to go to the garage again?"},
	{"What oil grade does the motorbike take?", "The motorbike takes Spindrall 10W-40 oil.", "Spindrall",
		"Which oil should I put in the bike?"},
	{"Where is the parking permit for the city centre stored?", "The city parking permit is in the glovebox, number Yellomark.", "Yellomark",
		"Where did I keep the permit for parking downtown?"},
	{"What is the unlock code for the car's radio?", "The radio unlock code is Fennocast.", "Fennocast",
		"The radio asks for a code after the battery change, what is it?"},
	{"Which mechanic fixed the clutch last year?", "The clutch was fixed by the Brannoway garage.", "Brannoway",
		"Who repaired the clutch?"},
	// Work.
	{"What is the room for the quarterly planning meeting?", "Quarterly planning is in room Mistravel on floor six.", "Mistravel",
		"Where is the planning session held each quarter?"},
	{"What's the cost centre code for travel expenses?", "Travel expenses go to cost centre Drummeline.", "Drummeline",
		"Which code do I put on my expense claim for trips?"},
	{"Who is the new manager of the design team?", "The design team's new manager is Orsolvay.", "Orsolvay",
		"Who leads design now?"},
	{"What is the guest wifi network at the office?", "The office guest network is called Plunterra.", "Plunterra",
		"What network do visitors join at work?"},
	{"When is the deadline for the annual report?", "The annual report is due on the 14th under project Vestibrand.", "Vestibrand",
		"By when must the yearly report be done?"},
	{"Which printer prints in colour on our floor?", "The colour printer on your floor is Lumicrest-3.", "Lumicrest",
		"Where can I print something in colour?"},
	// Family.
	{"What present did we buy for Uncle Tom's birthday?", "For Uncle Tom's birthday you bought a Sollvane watch.", "Sollvane",
		"What gift is ready for Tom?"},
	{"Which restaurant is booked for the anniversary dinner?", "The anniversary dinner is booked at the Marrowind bistro.", "Marrowind",
		"Where are we eating for our anniversary?"},
	{"What is my nephew's favourite dinosaur?", "Your nephew's favourite dinosaur is the made-up Quintarok.", "Quintarok",
		"Which dinosaur does the little one love most?"},
	{"What time does the school play start?", "The school play starts at 6pm in the Harrowgild hall.", "Harrowgild",
		"When should we be at the school for the play?"},
	{"What allergy does my sister have?", "Your sister is allergic to Pellacine.", "Pellacine",
		"What can't my sister eat?"},
	{"Which campsite did we reserve for the family reunion?", "The family reunion campsite is Thornavik meadow.", "Thornavik",
		"Where are we camping for the reunion?"},
}

// lookAlikeFacts are the facts of InjectedLookAlikes: one sentence with
// another service and another invented name each. Markers are unique
// across all sets.
var lookAlikeFacts = func() []Fact {
	services := []string{"payments", "search", "billing", "checkout", "inventory", "shipping", "identity", "analytics", "messaging", "reporting", "catalog", "pricing"}
	names := []string{"Bravquill", "Dornasett", "Felmarrow", "Gavrinto", "Halvessik", "Jorplenta", "Kestrumo", "Lomvarich", "Mirrowdane", "Nostrevik", "Pellagorn", "Quistrell"}
	fs := make([]Fact, len(services))
	for i, sv := range services {
		fs[i] = Fact{
			Question:   "Who is on call for " + sv + " during the weekend maintenance window?",
			Answer:     "The on-call engineer for the " + sv + " service during the weekend maintenance window is " + names[i] + " from the platform team.",
			Marker:     names[i],
			Paraphrase: "Who do I page about " + sv + " this weekend?",
		}
	}
	return fs
}()
