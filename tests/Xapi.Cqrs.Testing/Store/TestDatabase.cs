namespace Xapi.Cqrs.Testing.Store;

/// <summary>
/// The PostgreSQL the integration tests use: <c>XAPI_TEST_PG</c> (an Npgsql connection string, set by
/// ops/test, which starts a throwaway cluster). Each test class takes a schema of its own so classes
/// run in parallel without seeing each other's events.
/// </summary>
public static class TestDatabase
{
    public const string EnvironmentVariable = "XAPI_TEST_PG";

    public static string ConnectionString =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                $"{EnvironmentVariable} is not set: run the tests with ops/test, which starts a PostgreSQL cluster, " +
                $"or set {EnvironmentVariable} to an Npgsql connection string.");

    /// <summary>A fresh schema name, unique per call: "t_" + the owner's name (at most 24 letters) + a random suffix.</summary>
    public static string NewSchema(string owner)
    {
        var name = new string(owner.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).ToArray());
        if (name.Length > 24)
        {
            name = name[..24];
        }

        return $"t_{name}_{Guid.NewGuid():N}"; // at most 59 characters: under PostgreSQL's 63
    }
}
