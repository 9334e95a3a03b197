package memeval

import (
	"fmt"
	"math/rand/v2"
)

// Turn is one user message and the assistant's answer to it (sent back
// inline with the next message, as /v1/run's response field); or, with
// Inject set, a memory injected into that tier with Message as its text.
type Turn struct{ Message, Answer, Inject string }

// fillerKind generates the i-th turn of one kind of filler.
type fillerKind func(r *rand.Rand, i int) Turn

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

// smallTalk: short chatter with short answers; it repeats, so some of it
// merges into existing memories.
var smallTalk = []Turn{
	{Message: "thanks, that helps a lot", Answer: "You're welcome, happy to help."},
	{Message: "ok cool", Answer: "Great. Anything else?"},
	{Message: "hmm let me think about it", Answer: "Take your time."},
	{Message: "haha nice one", Answer: "Glad you liked it!"},
	{Message: "good morning!", Answer: "Good morning! What can I do for you today?"},
	{Message: "sorry, I got distracted for a moment", Answer: "No problem at all, carry on whenever you're ready."},
	{Message: "can you say that more simply?", Answer: "Sure: in short, it depends on the details, but the simple version usually works."},
	{Message: "that makes sense now", Answer: "Great, I'm glad it's clearer."},
	{Message: "I'll try that later tonight", Answer: "Sounds good, let me know how it goes."},
	{Message: "what do you think, honestly?", Answer: "Honestly, I'd go with the simpler option first and see."},
	{Message: "wait, really?", Answer: "Yes, really, it surprises many people."},
	{Message: "interesting, tell me more", Answer: "There is plenty more, but the main idea is what we covered."},
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
	return Turn{Message: fmt.Sprintf("How do I %s %s %s?", v, o, c),
		Answer: fmt.Sprintf("To %s %s %s, %s.", v, o, c, pick(r, howTips))}
}

// trivia: general-knowledge questions with factual answers.
var trivia = []Turn{
	{Message: "Why is the sky blue?", Answer: "Sunlight scatters off air molecules, and blue light scatters the most, so the sky looks blue."},
	{Message: "How far away is the moon?", Answer: "The moon is about 384,000 kilometres from Earth on average."},
	{Message: "Who painted the Mona Lisa?", Answer: "Leonardo da Vinci painted the Mona Lisa in the early 1500s."},
	{Message: "What is the tallest mountain in the world?", Answer: "Mount Everest is the tallest mountain above sea level, at about 8,849 metres."},
	{Message: "How many bones are in the human body?", Answer: "An adult human body has 206 bones."},
	{Message: "What causes the seasons on Earth?", Answer: "The tilt of Earth's axis changes how directly sunlight hits each hemisphere through the year."},
	{Message: "When did the first person walk on the moon?", Answer: "Neil Armstrong walked on the moon in July 1969."},
	{Message: "What is the largest ocean?", Answer: "The Pacific is the largest ocean, covering about a third of the planet."},
	{Message: "How do bees make honey?", Answer: "Bees collect nectar, break it down with enzymes and evaporate the water in the hive."},
	{Message: "Why do cats purr?", Answer: "Cats purr when relaxed and also to soothe themselves when stressed."},
	{Message: "What is the speed of light?", Answer: "Light travels at about 300,000 kilometres per second in a vacuum."},
	{Message: "Who wrote Pride and Prejudice?", Answer: "Jane Austen wrote Pride and Prejudice, published in 1813."},
	{Message: "How do airplanes stay in the air?", Answer: "Wings are shaped so moving air creates lift that balances the plane's weight."},
	{Message: "What is the capital of Australia?", Answer: "Canberra is the capital of Australia."},
	{Message: "Why does ice float?", Answer: "Ice is less dense than liquid water because its crystal structure holds molecules apart."},
	{Message: "What is photosynthesis?", Answer: "Plants use sunlight to turn carbon dioxide and water into sugar and oxygen."},
	{Message: "How old is the universe?", Answer: "The universe is about 13.8 billion years old."},
	{Message: "What language has the most native speakers?", Answer: "Mandarin Chinese has the most native speakers."},
	{Message: "Why do leaves change colour in autumn?", Answer: "Chlorophyll breaks down in autumn, revealing yellow and orange pigments."},
	{Message: "How does a rainbow form?", Answer: "Sunlight refracts and reflects inside raindrops, splitting into colours."},
	{Message: "What is the longest river?", Answer: "The Nile and the Amazon compete for the longest river, both over 6,500 kilometres."},
	{Message: "How many players are on a football team?", Answer: "A football team fields eleven players."},
	{Message: "What is the boiling point of water?", Answer: "Water boils at 100 degrees Celsius at sea level."},
	{Message: "Who invented the telephone?", Answer: "Alexander Graham Bell is credited with patenting the telephone in 1876."},
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
	return Turn{Message: fmt.Sprintf("So about %s: %s, and %s. %s", t, pick(r, rambleViews), pick(r, rambleViews), pick(r, rambleAdds)),
		Answer: fmt.Sprintf("It sounds like %s matters to you. Talking it through is a good way to sort out what you think.", t)}
}

// codeQuestions: programming questions with snippets and log lines.
var (
	codeLangs  = []string{"Python", "Go", "JavaScript", "Rust", "Java", "SQL"}
	codeErrors = []string{"index out of range", "null pointer dereference", "connection refused", "permission denied", "deadlock detected", "syntax error near unexpected token", "timeout while reading response"}
	codeThings = []string{"a loop over a list", "a database query", "an HTTP handler", "a file upload", "a background job", "a unit test"}
)

func codeKind(r *rand.Rand, i int) Turn {
	l, e, th := pick(r, codeLangs), pick(r, codeErrors), pick(r, codeThings)
	return Turn{Message: fmt.Sprintf("My %s code for %s fails with \"%s\" at line %d. What should I check?", l, th, e, 10+r.IntN(400)),
		Answer: fmt.Sprintf("For \"%s\" in %s, check the inputs of %s first, then add logging around the failing line.", e, l, th)}
}

// newsChat: questions about current-affairs style topics.
var (
	newsSubjects = []string{"interest rates", "the housing market", "a new phone release", "the climate summit", "train strikes", "a film festival", "the local elections", "fuel prices"}
	newsAsks     = []string{"What's the latest on %s?", "Should I worry about %s?", "Can you summarise the news about %s?", "Why is everyone talking about %s?"}
)

func newsKind(r *rand.Rand, i int) Turn {
	s := pick(r, newsSubjects)
	return Turn{Message: fmt.Sprintf(pick(r, newsAsks), s),
		Answer: fmt.Sprintf("I can't see today's news, but coverage of %s usually focuses on costs, timing and who is affected.", s)}
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
	return Turn{Message: fmt.Sprintf("What was the name of %s again?", s),
		Answer: fmt.Sprintf("The name of %s is %s.", s, inventedName(r))}
}
