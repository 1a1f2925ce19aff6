using System.Text.RegularExpressions;

namespace Xapi.Cqrs.Api.Http;

/// <summary>X-Correlation-Id: taken from the request when well-formed, else new; echoed on the response.</summary>
public static partial class Correlation
{
    public const string Header = "X-Correlation-Id";
    public const string ItemKey = "xapi.correlation";

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,128}$")]
    private static partial Regex WellFormed();

    public static string For(HttpContext http)
    {
        var given = http.Request.Headers[Header].ToString();
        var id = WellFormed().IsMatch(given) ? given : Guid.NewGuid().ToString("N");
        http.Items[ItemKey] = id;
        http.Response.Headers[Header] = id;
        return id;
    }
}
