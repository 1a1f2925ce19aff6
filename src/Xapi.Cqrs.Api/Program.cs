using JasperFx;
using Xapi.Cqrs.Api;
using Xapi.Cqrs.Api.Startup;

// Marten's own command line (JasperFx), for an operator working on the database with no server running:
// `-- projections` (list, rebuild), `-- db-apply`, `-- db-assert`, `-- db-patch`, `-- describe`, `-- help`. Configuration
// still comes from appsettings, environment variables and `--Key=value` arguments (`--ConnectionStrings:EventStore=…`).
// Any other command line runs the service.
if (OperatorCommands.Parse(args) is { } command)
{
    return await XapiApp.Build(command.Configuration, b => b.Host.ApplyJasperFxExtensions()).RunJasperFxCommands(command.Arguments);
}

await XapiApp.Build(args).RunAsync();
return 0;
