namespace Xapi.Cqrs.Application.Pipeline;

/// <summary>
/// The request's shape is wrong (400): an xapi code (INVALID_VALUE, VALUE_NOT_SUPPORTED,
/// MEMORY_CONSTRAINT_VIOLATION_ORDER, INVALID_DEVICE, MAC_INVALID …), its params, and every failing
/// field with its messages. State refusals are <see cref="Domain.XapiException"/>, never this.
/// </summary>
public sealed class RequestValidationException(string code, IReadOnlyList<string> parameters, IReadOnlyDictionary<string, string[]> errors)
    : Exception($"{code} [{string.Join("; ", parameters)}]")
{
    public string Code { get; } = code;

    public IReadOnlyList<string> Params { get; } = parameters;

    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;

    public static RequestValidationException Single(string field, string code, params string[] parameters) =>
        new(code, parameters, new Dictionary<string, string[]> { [field] = [$"{code} [{string.Join("; ", parameters)}]"] });
}
