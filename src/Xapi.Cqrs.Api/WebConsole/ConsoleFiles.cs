using Microsoft.Extensions.FileProviders;

namespace Xapi.Cqrs.Api.WebConsole;

/// <summary>
/// The web console at <c>/</c>: static files (vanilla JS and CSS, no build chain, nothing fetched from elsewhere) from the
/// <c>wwwroot</c> copied next to the service's assembly. It talks to the API with the token it is given; the files
/// themselves need none. A strict Content-Security-Policy keeps the page to this origin.
/// </summary>
public static class ConsoleFiles
{
    public static void UseWebConsole(this WebApplication app)
    {
        var root = Path.Combine(AppContext.BaseDirectory, "wwwroot");
        if (!Directory.Exists(root))
        {
            app.Logger.LogWarning("the web console's files are not at {Root}: / will not serve it", root);
            return;
        }

        var files = new PhysicalFileProvider(root);
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            OnPrepareResponse = c =>
            {
                c.Context.Response.Headers.ContentSecurityPolicy =
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";
                c.Context.Response.Headers.XContentTypeOptions = "nosniff";
                c.Context.Response.Headers.CacheControl = "no-cache";
            },
        });
    }
}
