"""strip_echo: a repeated question is removed before the relevance proxy compares texts."""

from plurieval.api import strip_echo


def test_removes_echoes_of_the_question_and_keeps_answers_that_restate_it():
    assert strip_echo("Wie viele Minuten hat eine Stunde?", "Wie viele Minuten hat eine Stunde?") == ""
    assert strip_echo("Combien de jours y a-t-il dans une semaine?", "Combien de jours y a-t-il dans une semaine ?") == ""
    # a misspelt echo (21 of 22 characters shared) is still an echo
    assert strip_echo("Сколько дней в недель?", "Сколько дней в неделе?") == "ь"
    assert strip_echo("ما هو المكون الرئيسي للخبز؟\n\nThe answer is in Arabic.", "ما هو المكون الرئيسي للخبز؟") \
        == "The answer is in Arabic"
    # echoed twice: both go
    q = "How many legs does a spider have?"
    assert strip_echo(f"{q}\n\n{q}\n\nEight.", q) == "Eight"
    # restating the question inside an answer shares less than 80 % of it: untouched
    for answer, question in (("The main ingredient of bread is flour.", "What is the main ingredient of bread?"),
                             ("The capital of France is Paris.", "What is the capital of France?")):
        assert strip_echo(answer, question) == answer
    assert strip_echo("Yes.", "Why?") == "Yes."                      # prompts too short to echo meaningfully
    assert strip_echo("", "What is the capital of France?") == ""
