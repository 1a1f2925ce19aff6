using System.Globalization;
using FluentValidation;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Application.Pipeline;

/// <summary>Shape rules shared by validators, each failing with its xapi code and params.</summary>
public static class XapiRules
{
    public const int MaxNameLength = 255;

    public static bool IsXapiCode(string? code) =>
        !string.IsNullOrEmpty(code) && code.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '_');

    /// <summary>Fail with <paramref name="code"/> and params computed from the request.</summary>
    public static IRuleBuilderOptions<T, TProperty> Xapi<T, TProperty>(
        this IRuleBuilderOptions<T, TProperty> rule, string code, Func<T, TProperty, string[]> parameters) =>
        rule.WithErrorCode(code)
            .WithState((x, v) => parameters(x, v))
            .WithMessage((x, v) => $"{code} [{string.Join("; ", parameters(x, v))}]");

    /// <summary>INVALID_VALUE [field; value] with the field's xapi name.</summary>
    public static IRuleBuilderOptions<T, TProperty> InvalidValue<T, TProperty>(this IRuleBuilderOptions<T, TProperty> rule, string field) =>
        rule.Xapi(ErrorCodes.InvalidValue, (_, v) => [field, Show(v)]);

    public static IRuleBuilderOptions<T, string?> NameLabel<T>(this IRuleBuilder<T, string?> rule, string field = "name_label") =>
        rule.NotEmpty().InvalidValue(field)
            .MaximumLength(MaxNameLength).InvalidValue(field);

    public static IRuleBuilderOptions<T, long?> Required<T>(this IRuleBuilder<T, long?> rule, string field) =>
        rule.NotNull().InvalidValue(field);

    public static string Show(object? value) => value switch
    {
        null => "",
        string s => s.Length > 64 ? s[..64] + "…" : s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        System.Collections.IDictionary d => $"{d.Count} entries",
        System.Collections.IEnumerable items => string.Join(", ", items.Cast<object?>().Select(Show)),
        _ => value.ToString() ?? "",
    };
}
