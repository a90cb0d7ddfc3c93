"""General-ability prompts for replay: what a persona tune mixes back in so the base model's plain skills survive.

The base model answers these (skills.train.replay) and its own answers become training rows beside the persona's.
They are built from templates x topics, the same list every time, in a fixed shuffled order so any prefix mixes
every kind (explain, list, summarise, how-to, short facts, code, comparisons, short writing). None of them may
repeat the forgetting check's items (skills/evaluate/forgetting.py), exactly or nearly: replaying the questions
the check asks would measure memory of the check, not general ability (tests/train/test_replay.py asserts it).
"""

from __future__ import annotations

import hashlib
import random

EXPLAIN = ["photosynthesis", "how a rainbow forms", "what inflation is", "how vaccines work", "what a black hole is",
           "why leaves change colour in autumn", "how a refrigerator keeps food cold", "what DNA does",
           "how tides work", "what an election is", "how a bicycle stays upright", "what a recipe's yeast does",
           "how the internet sends a message", "what gravity is", "why we have seasons", "how a battery stores energy",
           "what a volcano is", "how bees make honey", "what a budget is", "how sound travels",
           "what a compiler does", "how an airplane wing creates lift", "what compound interest is",
           "how the heart pumps blood", "what erosion is", "how a thermometer works", "what a habit is",
           "why bread rises", "how recycling helps", "what a metaphor is", "how clouds form", "what a database is",
           "why ice floats", "how muscles grow", "what a calendar leap year is", "how a lock and key work",
           "what democracy means", "how soap cleans", "what a fossil is", "how memory in the brain works"]
LISTS = ["fruits that are high in vitamin C", "ways to save water at home", "board games for a family evening",
         "tips for a job interview", "musical instruments with strings", "kinds of clouds", "healthy breakfast ideas",
         "things to check before a long drive", "famous bridges", "ways to reduce stress", "herbs for cooking",
         "popular programming languages", "sports played with a ball", "tools every home should have",
         "birds that cannot fly", "reasons to learn history", "indoor plants that are easy to keep",
         "ideas for a rainy afternoon", "parts of a flower", "common kitchen measurements",
         "habits of good writers", "materials that conduct electricity", "winter clothing items",
         "ways to be a good listener", "vegetables that grow underground", "uses of a paper clip",
         "questions to ask a new colleague", "benefits of walking", "dog breeds that are good with children",
         "things to pack for a picnic"]
PASSAGES = [
    "The library will close early on Friday for staff training. Books due that day can be returned on Monday "
    "without a late fee.",
    "Regular stretching improves flexibility, reduces the risk of injury and can ease muscle tension after "
    "sitting for long periods.",
    "The city plans to add bike lanes on three main streets next year, hoping to cut traffic and make cycling safer.",
    "Honey never spoils if it is sealed, because its low water content and acidity stop bacteria from growing.",
    "Our team finished the project two weeks late, mostly because the supplier delivered parts in the wrong size.",
    "Solar panels turn sunlight into electricity; they work best facing the sun and still produce some power "
    "on cloudy days.",
    "The museum's new exhibit shows tools used by farmers over five centuries, from wooden ploughs to tractors.",
    "Drinking enough water helps the body control temperature, keeps joints moving and supports digestion.",
    "The meeting moved from Tuesday to Thursday so that everyone from the sales office could attend.",
    "Octopuses have three hearts and blue blood, and they can change colour to hide from predators.",
    "A good night's sleep helps memory, mood and concentration, while too little sleep makes people irritable.",
    "The bakery now opens at seven instead of eight, and fresh croissants are ready by half past seven.",
    "Composting turns kitchen scraps into rich soil, reducing waste sent to landfills and feeding gardens.",
    "The train to the coast will run every hour during the summer, with extra trains on weekends.",
    "Learning to type without looking at the keyboard takes practice but makes writing much faster.",
    "The park's old oak tree, planted two hundred years ago, will be protected by a new fence.",
    "Washing hands with soap for twenty seconds removes most germs and helps prevent colds.",
    "The software update fixes a bug that made the app crash when users uploaded large photos.",
    "Elephants communicate with low rumbles that other elephants can hear several kilometres away.",
    "The school will start a chess club on Wednesdays, open to all students who want to learn.",
]
HOW_TO = ["make a paper airplane", "write a polite email to a teacher", "start running as a beginner",
          "plant tomatoes in a pot", "clean a cast iron pan", "tie a tie", "make a simple budget",
          "change a light bulb safely", "prepare for an exam", "make pancakes", "remove a coffee stain",
          "back up files on a computer", "introduce myself at a meeting", "keep houseplants alive",
          "organise a small closet", "read a map", "make a cup of hot chocolate", "take better photos with a phone",
          "stay focused while studying", "sharpen a kitchen knife", "write a thank-you note", "iron a shirt",
          "memorise a short speech", "make a grocery list", "fold a fitted sheet", "start a journal",
          "train a puppy to sit", "cook rice on the stove", "calm down before a presentation",
          "make a strong password", "wrap a present neatly", "patch a hole in a wall", "build a campfire safely",
          "learn to juggle", "brew coffee with a French press", "plan a birthday party", "sew on a button",
          "clean a computer keyboard", "water a garden efficiently", "practise a new song on the piano"]
FACTS = ["Who painted the Mona Lisa?", "Who wrote the play Romeo and Juliet?", "What language is spoken in Brazil?",
         "What is the boiling point of water in Celsius at sea level?", "Which ocean is the largest?",
         "Who was the first person to walk on the Moon?", "What is the chemical symbol for gold?",
         "Which organ in the body filters blood?", "What instrument has 88 keys?", "What is the tallest mountain on Earth?",
         "Which planet is known as the Red Planet?", "What do bees collect from flowers?",
         "Who developed the theory of relativity?", "What is the longest river in Africa?",
         "What is the main ingredient of guacamole?", "How many strings does a standard violin have?",
         "What is the hardest natural substance?", "Which animal is the largest mammal?",
         "What does a thermometer measure?", "Which metal is liquid at room temperature?",
         "What shape has three sides?", "Which season comes after spring?", "What do caterpillars turn into?",
         "Who invented the telephone?", "What is the smallest prime number?", "What do you call a baby kangaroo?",
         "What is the plural of mouse?", "How many sides does a hexagon have?",
         "Which country is famous for the maple leaf flag?", "What is the freezing point of water in Fahrenheit?",
         "Which bird is a symbol of peace?", "What sport is played at Wimbledon?",
         "Which vitamin does sunlight help the body make?", "What is the name of our galaxy?",
         "What is a group of wolves called?", "Which continent is the Sahara desert on?",
         "Who wrote the novel Moby-Dick?", "What colour do you get by mixing blue and yellow?",
         "Which planet has the most famous rings?", "What is the study of weather called?"]
CODE = ["reverses a string", "checks whether a number is even", "returns the largest item in a list",
        "counts the vowels in a word", "removes duplicates from a list while keeping order",
        "converts Celsius to Fahrenheit", "checks whether a word is a palindrome", "returns the factorial of n",
        "merges two dictionaries", "reads a text file and counts its lines", "flattens a list of lists",
        "returns the first n Fibonacci numbers", "capitalises every word in a sentence",
        "sorts a list of names alphabetically", "finds the average of a list of numbers",
        "checks whether a year is a leap year", "swaps the keys and values of a dictionary",
        "splits a sentence into words", "returns the square of every number in a list", "checks whether a list is empty"]
CODE_CONCEPTS = ["a for loop in Python", "a Python dictionary", "recursion", "a SQL JOIN", "an API",
                 "version control with git", "a variable", "an HTTP status code 404", "a unit test", "a regular expression",
                 "a Python list comprehension", "the difference between == and is in Python", "a JSON file",
                 "an infinite loop", "a function argument", "a stack data structure", "a hash function",
                 "the command `ls` in a terminal", "a CSS class", "a null pointer"]
COMPARE = [("a crocodile", "an alligator"), ("weather", "climate"), ("a virus", "a bacterium"), ("tea", "coffee"),
           ("a lake", "a pond"), ("speed", "velocity"), ("a novel", "a short story"), ("a moth", "a butterfly"),
           ("renting", "buying a home"), ("a simile", "a metaphor"), ("baking soda", "baking powder"),
           ("a town", "a city"), ("an email", "a letter"), ("hardware", "software"), ("a frog", "a toad"),
           ("jogging", "sprinting"), ("a debit card", "a credit card"), ("a hurricane", "a tornado"),
           ("a violin", "a viola"), ("a list", "a tuple in Python")]
WRITING = ["a haiku about morning rain", "a two-line birthday message for a friend", "a short poem about the sea",
           "a one-paragraph story about a lost key", "a product description for a reusable water bottle",
           "a friendly reminder about a team lunch", "a short motivational note for a student",
           "a riddle with its answer", "a tweet announcing a bake sale", "a short apology for arriving late",
           "a limerick about a cat", "a slogan for a recycling campaign", "a welcome message for a new neighbour",
           "a short description of an autumn forest", "a packing checklist for a day hike",
           "a two-sentence horror story", "a thank-you message for a helpful colleague",
           "a short speech opening for a school assembly", "a postcard message from the mountains",
           "a note asking to borrow a ladder"]


def _all_prompts() -> list[str]:
    """Every prompt, grouped by kind (the order `general_prompts` then shuffles)."""
    return [
        *(f"Explain {topic} in simple terms." for topic in EXPLAIN),
        *(f"List three {things}." for things in LISTS),
        *(f"Summarise this in one sentence: {passage}" for passage in PASSAGES),
        *(f"How do I {task}?" for task in HOW_TO),
        *FACTS,
        *(f"Write a Python function that {does}." for does in CODE),
        *(f"What is {concept}? Give a short example." for concept in CODE_CONCEPTS),
        *(f"What is the difference between {a} and {b}?" for a, b in COMPARE),
        *(f"Write {piece}." for piece in WRITING),
    ]


def general_prompts() -> list[str]:
    """The replay prompt set, the same order every time (seeded shuffle, so a prefix mixes every kind)."""
    prompts = _all_prompts()
    random.Random(20261208).shuffle(prompts)
    return prompts


def prompt_set_sha256() -> str:
    """Checksum of the prompt set in its order: a changed set gets a new replay cache."""
    return hashlib.sha256("\n".join(general_prompts()).encode("utf-8")).hexdigest()
