from django import forms


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where this key is used, e.g. 'production ingest'.")
