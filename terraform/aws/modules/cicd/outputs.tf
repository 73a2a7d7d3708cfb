output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider for token.actions.githubusercontent.com (created here or given)."
  value       = local.oidc_provider_arn
}

output "plan_role_arn" {
  description = "ARN of the role pull request runs assume to plan (AWS_PLAN_ROLE_ARN in the repository's variables); known once its policy is attached."
  value       = aws_iam_role.plan.arn
  depends_on  = [aws_iam_role_policy_attachment.plan_read]
}

output "deploy_role_arn" {
  description = "ARN of the role the apply job assumes (AWS_DEPLOY_ROLE_ARN in the repository's variables); known once its policies are attached."
  value       = aws_iam_role.deploy.arn
  depends_on  = [aws_iam_role_policy_attachment.deploy_read, aws_iam_role_policy_attachment.deploy_write]
}

output "deploy_subject" {
  description = "The token subject the deployment role trusts: repo:<owner>/<name>:environment:<environment>, or :ref:refs/heads/<branch> without an environment."
  value       = local.deploy_subject
}

output "plan_subject" {
  description = "The token subject the plan role trusts: repo:<owner>/<name>:pull_request."
  value       = local.pull_request_subject
}
