package memeval

import (
	"fmt"
	"math/rand/v2"
)

// Turn is one user message and the assistant's answer to it (sent back
// inline with the next message, as /v1/run's response field).
type Turn struct{ Message, Answer string }

// fillerKind generates the i-th turn of one kind of filler.
type fillerKind func(r *rand.Rand, i int) Turn

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

// smallTalk: short chatter with short answers; it repeats, so some of it
// merges into existing memories.
var smallTalk = []Turn{
	{"thanks, that helps a lot", "You're welcome, happy to help."},
	{"ok cool", "Great. Anything else?"},
	{"hmm let me think about it", "Take your time."},
	{"haha nice one", "Glad you liked it!"},
	{"good morning!", "Good morning! What can I do for you today?"},
	{"sorry, I got distracted for a moment", "No problem at all, carry on whenever you're ready."},
	{"can you say that more simply?", "Sure: in short, it depends on the details, but the simple version usually works."},
	{"that makes sense now", "Great, I'm glad it's clearer."},
	{"I'll try that later tonight", "Sounds good, let me know how it goes."},
	{"what do you think, honestly?", "Honestly, I'd go with the simpler option first and see."},
	{"wait, really?", "Yes, really, it surprises many people."},
	{"interesting, tell me more", "There is plenty more, but the main idea is what we covered."},
}

func smallTalkKind(r *rand.Rand, i int) Turn { return smallTalk[r.IntN(len(smallTalk))] }

// howTo: templated practical questions from everyday topics.
var (
	howVerbs    = []string{"clean", "fix", "organise", "paint", "store", "repair", "choose", "install", "measure", "replace"}
	howObjects  = []string{"a bookshelf", "the bathroom tiles", "a leaking tap", "winter jackets", "a bicycle chain", "kitchen knives", "a ceiling lamp", "the lawn mower", "a wooden floor", "window frames", "a backpack", "the dishwasher filter", "a standing desk", "garden hoses", "a printer cartridge"}
	howContexts = []string{"in a small flat", "on a budget", "without special tools", "before the weekend", "in humid weather", "for a beginner", "quickly", "safely"}
	howTips     = []string{"start by reading the manual and work slowly", "use a soft cloth and mild soap first", "measure twice and cut once", "check the warranty before you buy parts", "watch a short video guide to see the steps", "ask the hardware shop which size you need", "switch off the power before touching anything", "keep the screws in a cup so none get lost"}
)

func howToKind(r *rand.Rand, i int) Turn {
	v, o, c := pick(r, howVerbs), pick(r, howObjects), pick(r, howContexts)
	return Turn{fmt.Sprintf("How do I %s %s %s?", v, o, c),
		fmt.Sprintf("To %s %s %s, %s.", v, o, c, pick(r, howTips))}
}

// trivia: general-knowledge questions with factual answers.
var trivia = []Turn{
	{"Why is the sky blue?", "Sunlight scatters off air molecules, and blue light scatters the most, so the sky looks blue."},
	{"How far away is the moon?", "The moon is about 384,000 kilometres from Earth on average."},
	{"Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa in the early 1500s."},
	{"What is the tallest mountain in the world?", "Mount Everest is the tallest mountain above sea level, at about 8,849 metres."},
	{"How many bones are in the human body?", "An adult human body has 206 bones."},
	{"What causes the seasons on Earth?", "The tilt of Earth's axis changes how directly sunlight hits each hemisphere through the year."},
	{"When did the first person walk on the moon?", "Neil Armstrong walked on the moon in July 1969."},
	{"What is the largest ocean?", "The Pacific is the largest ocean, covering about a third of the planet."},
	{"How do bees make honey?", "Bees collect nectar, break it down with enzymes and evaporate the water in the hive."},
	{"Why do cats purr?", "Cats purr when relaxed and also to soothe themselves when stressed."},
	{"What is the speed of light?", "Light travels at about 300,000 kilometres per second in a vacuum."},
	{"Who wrote Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice, published in 1813."},
	{"How do airplanes stay in the air?", "Wings are shaped so moving air creates lift that balances the plane's weight."},
	{"What is the capital of Australia?", "Canberra is the capital of Australia."},
	{"Why does ice float?", "Ice is less dense than liquid water because its crystal structure holds molecules apart."},
	{"What is photosynthesis?", "Plants use sunlight to turn carbon dioxide and water into sugar and oxygen."},
	{"How old is the universe?", "The universe is about 13.8 billion years old."},
	{"What language has the most native speakers?", "Mandarin Chinese has the most native speakers."},
	{"Why do leaves change colour in autumn?", "Chlorophyll breaks down in autumn, revealing yellow and orange pigments."},
	{"How does a rainbow form?", "Sunlight refracts and reflects inside raindrops, splitting into colours."},
	{"What is the longest river?", "The Nile and the Amazon compete for the longest river, both over 6,500 kilometres."},
	{"How many players are on a football team?", "A football team fields eleven players."},
	{"What is the boiling point of water?", "Water boils at 100 degrees Celsius at sea level."},
	{"Who invented the telephone?", "Alexander Graham Bell is credited with patenting the telephone in 1876."},
}

func triviaKind(r *rand.Rand, i int) Turn { return trivia[r.IntN(len(trivia))] }

// rambling: long messages with opinions and several sentences.
var (
	rambleTopics = []string{"the new cafe downtown", "remote work", "electric scooters", "my neighbour's renovation", "the football season", "online shopping", "the weather this spring", "learning a new language", "houseplants", "the city marathon"}
	rambleViews  = []string{"I keep changing my mind about it", "honestly it has been on my mind all week", "my friends disagree with me completely", "I read a long article about it yesterday", "it reminds me of something from years ago"}
	rambleAdds   = []string{"Anyway, I just wanted to talk it through with someone.", "Maybe I'm overthinking the whole thing.", "It's not important, but it is fun to think about.", "I wonder what other people would say.", "Perhaps next month I'll see it differently."}
)

func rambleKind(r *rand.Rand, i int) Turn {
	t := pick(r, rambleTopics)
	return Turn{fmt.Sprintf("So about %s: %s, and %s. %s", t, pick(r, rambleViews), pick(r, rambleViews), pick(r, rambleAdds)),
		fmt.Sprintf("It sounds like %s matters to you. Talking it through is a good way to sort out what you think.", t)}
}

// codeQuestions: programming questions with snippets and log lines.
var (
	codeLangs  = []string{"Python", "Go", "JavaScript", "Rust", "Java", "SQL"}
	codeErrors = []string{"index out of range", "null pointer dereference", "connection refused", "permission denied", "deadlock detected", "syntax error near unexpected token", "timeout while reading response"}
	codeThings = []string{"a loop over a list", "a database query", "an HTTP handler", "a file upload", "a background job", "a unit test"}
)

func codeKind(r *rand.Rand, i int) Turn {
	l, e, th := pick(r, codeLangs), pick(r, codeErrors), pick(r, codeThings)
	return Turn{fmt.Sprintf("My %s code for %s fails with \"%s\" at line %d. What should I check?", l, th, e, 10+r.IntN(400)),
		fmt.Sprintf("For \"%s\" in %s, check the inputs of %s first, then add logging around the failing line.", e, l, th)}
}

// newsChat: questions about current-affairs style topics.
var (
	newsSubjects = []string{"interest rates", "the housing market", "a new phone release", "the climate summit", "train strikes", "a film festival", "the local elections", "fuel prices"}
	newsAsks     = []string{"What's the latest on %s?", "Should I worry about %s?", "Can you summarise the news about %s?", "Why is everyone talking about %s?"}
)

func newsKind(r *rand.Rand, i int) Turn {
	s := pick(r, newsSubjects)
	return Turn{fmt.Sprintf(pick(r, newsAsks), s),
		fmt.Sprintf("I can't see today's news, but coverage of %s usually focuses on costs, timing and who is affected.", s)}
}

// fillerScript returns n filler turns drawn from kinds in turn order
// (kind i%len), deterministic for seed.
func fillerScript(kinds []fillerKind, n int, seed uint64) []Turn {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]Turn, n)
	for i := range out {
		out[i] = kinds[i%len(kinds)](r, i)
	}
	return out
}

// lookalike: personal-fact questions answered with invented names, like the
// facts themselves, but never asked about: they compete for importance and
// room with the facts.
var (
	lookSubjects = []string{"the bakery on the corner", "my cousin's boat", "the hiking trail we tried", "the new coworker", "our old landlord", "the podcast I mentioned", "the board game we played", "the bike shop downtown", "the tea we liked", "the museum exhibit"}
	syllables    = []string{"bra", "vel", "tor", "min", "qua", "sel", "dro", "pha", "lin", "gar", "zen", "mor", "kal", "ris", "tus", "ven"}
)

func inventedName(r *rand.Rand) string {
	n := 2 + r.IntN(2)
	b := make([]byte, 0, 12)
	for i := range n {
		s := pick(r, syllables)
		if i == 0 {
			b = append(b, s[0]-'a'+'A')
			s = s[1:]
		}
		b = append(b, s...)
	}
	return string(b)
}

func lookalikeKind(r *rand.Rand, i int) Turn {
	s := pick(r, lookSubjects)
	return Turn{fmt.Sprintf("What was the name of %s again?", s),
		fmt.Sprintf("The name of %s is %s.", s, inventedName(r))}
}
