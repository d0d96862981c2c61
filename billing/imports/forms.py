from django import forms

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
CUSTOMERS = "customers"
SUBSCRIPTIONS = "subscriptions"
KINDS = [(CUSTOMERS, "Customers"), (SUBSCRIPTIONS, "Subscriptions")]


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, separated by , or ; with a header row naming the columns.",
    )
    kind = forms.ChoiceField(
        label="Kind of file",
        required=False,
        choices=[("", "Recognise from the header"), *KINDS],
        help_text="A header naming customer, plan or start_date is a subscriptions file; any other, customers.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        return upload


class ImportConfirmForm(forms.Form):
    token = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)
